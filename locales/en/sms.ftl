## The text message with a one-time password (`[organizations.sms_otp]`). Keep it in the GSM 7-bit
## alphabet where the language allows (one SMS segment holds 160 such characters, 70 others).

sms-otp-code = Your one-time password for the { $app } is { $code }. This expires in { $minutes ->
        [one] 1 minute
       *[other] { $minutes } minutes
    }.
