# steps: las páginas del segundo paso (SMS, códigos enviados por correo y de aplicación, códigos de respaldo, llaves de acceso).

## shared by the code pages

steps-shared-continue = Continuar
steps-shared-code-label = Código
steps-shared-send-new-code = Enviar un nuevo código
# { $when } es un momento a partir de ahora: «dentro de 30 segundos».
steps-shared-resend-wait = Podrá solicitar un nuevo código { $when }.

## otp (the code sent by text message)

steps-otp-title = Introduzca el código
steps-otp-enroll-sent = Hemos enviado un código de un solo uso por SMS a <strong>{ $phone }</strong>. Introdúzcalo para guardar este número como suyo y continuar.
steps-otp-enroll-intro = { $app } solicita un código enviado por SMS. Añada su número de móvil: le enviaremos un código y, en cuanto lo introduzca, el número quedará guardado como suyo.
steps-otp-number-another-label = Otro número de móvil (formato internacional, p. ej. +44 7400 900123)
steps-otp-number-label = Número de móvil (formato internacional, p. ej. +44 7400 900123)
steps-otp-send-to-number = Enviar un código a este número
steps-otp-use-app-instead = Usar su aplicación de autenticación en su lugar
steps-otp-no-phone = Su cuenta no tiene ningún número de móvil verificado, por lo que no podemos enviarle un código.
steps-otp-no-phone-app = Puede <a href="{ $url }">usar su aplicación de autenticación</a> en su lugar.
steps-otp-no-phone-backup = Puede <a href="{ $url }">usar un código de respaldo</a> en su lugar.
steps-otp-no-phone-admin = Pida a su administrador que añada su número de móvil.
steps-otp-undelivered = <strong>No se pudo entregar el SMS</strong> a <strong>{ $phone }</strong>.
steps-otp-undelivered-other-ways = Pruebe otra forma (más abajo) o solicite un nuevo código.
steps-otp-undelivered-resend = Puede solicitar un nuevo código.
steps-otp-sent = Hemos enviado un código de un solo uso por SMS a su número de móvil <strong>{ $phone }</strong>.
steps-otp-not-sent = Los códigos se envían por SMS a su número de móvil <strong>{ $phone }</strong>; todavía no se ha podido enviar ninguno.
steps-otp-code-label = Código de un solo uso

## otp-delivery (the code page's frame: what became of the text message)

steps-otp-delivery-title = Entrega del SMS
steps-otp-delivery-failed = No se pudo entregar el SMS. <a href="{ $url }" target="_top">Probar otra forma</a>
steps-otp-delivery-delivered = Su teléfono ha recibido el SMS.
steps-otp-delivery-waiting = Esperando el informe de entrega del SMS…
steps-otp-delivery-no-report = Todavía no hay informe de entrega del SMS.

## sent-code (a code sent by email); { $label } is the factor's name, e.g. "email code"

steps-sent-title = Introduzca el { $label }
steps-sent-no-email = Su cuenta no tiene ninguna dirección de correo electrónico verificada, por lo que no podemos enviarle un código.
steps-sent-sent = Hemos enviado un código de un solo uso por correo electrónico a <strong>{ $destination }</strong>. Puede tardar un minuto en llegar; revise también su carpeta de correo no deseado.
steps-sent-not-sent = Los códigos se envían por correo electrónico a <strong>{ $destination }</strong>; todavía no se ha podido enviar ninguno.
steps-sent-no-more = No se pueden enviar más códigos nuevos en este inicio de sesión.

## code (a code from an app); { $label } is the factor's name, e.g. "authenticator app"

steps-code-setup-title = Configure su { $label }
steps-code-title = Introduzca el código de su { $label }
steps-code-setup-intro = { $app } solicita un segundo paso al iniciar sesión. Escanee este código QR con su { $label } (Google Authenticator, Microsoft Authenticator, 1Password, Aegis, …) y, a continuación, introduzca el código que muestre.
steps-code-setup-no-scan = ¿No puede escanearlo? Introduzca esta clave en la aplicación (basada en el tiempo):
steps-code-setup-code-label = El código de { $length } dígitos que muestra la aplicación
steps-code-setup-submit = Guardar y continuar
steps-code-intro = Abra su { $label } e introduzca el código que muestra para { $org }.

## backup-code

steps-backup-title = Use un código de respaldo
steps-backup-intro = Introduzca uno de los códigos de respaldo que guardó. Cada código solo sirve una vez.
steps-backup-code-label = Código de respaldo

## passkey; { $label } is the factor's name, e.g. "passkey"

steps-passkey-create-title = Cree su { $label }
steps-passkey-create-intro = { $app } solicita un segundo paso al iniciar sesión. Su dispositivo (este teléfono o equipo, o una llave de seguridad) crea una { $label } para su cuenta de { $org } y la protege con su huella dactilar, su rostro, un PIN o el bloqueo de pantalla del dispositivo; la usará a partir de ahora.
steps-passkey-name-label = Un nombre distintivo
# El nombre que recibe una nueva llave de acceso si el usuario no escribe otro.
steps-passkey-name-default = Llave de acceso
steps-passkey-name-title = Un nombre de al menos una letra, un dígito o un signo
steps-passkey-create-noscript = Para crear una llave de acceso se necesita JavaScript: actívelo o use otra forma.
steps-passkey-create-submit = Crear su { $label } y continuar
steps-passkey-use-title = Use su { $label }
steps-passkey-use-intro = Use la { $label } que añadió a esta cuenta: su dispositivo le pedirá su huella dactilar, su rostro, un PIN o su bloqueo de pantalla.
steps-passkey-use-noscript = Las llaves de acceso necesitan JavaScript: actívelo o use otra forma.
steps-passkey-use-submit = Usar mi { $label }

## passkey-script (what the passkey button's script says)

steps-passkey-script-unsupported = Este navegador no admite llaves de acceso. Use otra forma.
steps-passkey-script-exists = Este dispositivo ya tiene una llave de acceso para su cuenta.
steps-passkey-script-failed = No se usó ninguna llave de acceso: la solicitud se canceló, caducó o fue rechazada. Inténtelo de nuevo o use otra forma.

## Los factores que Sesame incluye, tal como los nombran las páginas.

factor-totp-label = aplicación de autenticación
factor-passkey-label = llave de acceso
factor-email-otp-label = código enviado por correo electrónico
factor-email-otp-offer = Enviarme un código por correo electrónico en su lugar
