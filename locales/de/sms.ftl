## Die SMS mit einem Einmalpasswort. Nur Zeichen des GSM-7-Alphabets (ä, ö, ü und ß gehören dazu).

sms-otp-code = Ihr Einmalpasswort für { $app } lautet { $code }. Es läuft in { $minutes ->
        [one] 1 Minute
       *[other] { $minutes } Minuten
    } ab.
