## El SMS con una contraseña de un solo uso. Solo caracteres del alfabeto GSM de 7 bits: sin á, í,
## ó ni ú (ñ y é sí están), para que quepa en un segmento.

sms-otp-code = Su contraseña de un solo uso para { $app } es { $code }. Caduca en { $minutes ->
        [one] 1 minuto
       *[other] { $minutes } minutos
    }.
