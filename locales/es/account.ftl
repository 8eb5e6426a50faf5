### El área de la cuenta: la página de la cuenta, nuevos códigos de respaldo, configurar una aplicación de autenticación o una llave de acceso.
### Los tiempos ({ $when }, { $added }, { $used }, { $started }, { $since }) son expresiones relativas:
### «dentro de 5 minutos», «hace 3 horas» (time-in-*, time-ago-* en common.ftl).

## account (la página de la cuenta)

account-home-title = Su cuenta · { $org }
account-home-heading = Su cuenta
account-home-signed-in-as = { $org } · sesión iniciada como <strong>{ $username }</strong>
# $when: «dentro de 5 minutos».
account-home-fresh = Ha confirmado que es usted: puede hacer cambios. Esta confirmación caduca { $when }.
account-home-verify = Para cambiar algo, primero <a href="{ $url }">confirme que es usted</a> (inicie sesión de nuevo y luego use su segundo factor).

account-home-password-heading = Contraseña
account-home-password-new = Nueva contraseña
account-home-password-hint =
    Al menos { $min ->
        [one] 1 carácter
       *[other] { $min } caracteres
    }. Se admite cualquier carácter; unas cuantas palabras son fáciles de recordar y difíciles de adivinar. No debe ser una contraseña común ni contener su nombre de usuario, su dirección de correo electrónico o el nombre de la organización.
account-home-password-again = Repita la nueva contraseña
account-home-password-submit = Cambiar mi contraseña
account-home-password-signs-out = Se cerrará la sesión en todos los demás navegadores conectados a su cuenta.
account-home-password-signs-out-email = Se cerrará la sesión en todos los demás navegadores conectados a su cuenta, y recibirá un correo electrónico que se lo indica.

account-home-phone-heading = Número de móvil
# $last4: los cuatro últimos dígitos del número.
account-home-phone-current = Los mensajes de texto se envían al número que termina en <strong>{ $last4 }</strong>.
account-home-phone-none = No tiene ningún número de móvil verificado.
account-home-phone-new = Nuevo número de móvil (formato internacional, p. ej., +44 7400 900123)
account-home-phone-submit = Enviar un código a este número

account-home-backup-heading = Códigos de respaldo
account-home-backup-left =
    { $n ->
        [one] Tiene <strong>{ $n }</strong> código de respaldo sin usar.
       *[other] Tiene <strong>{ $n }</strong> códigos de respaldo sin usar.
    }
account-home-backup-generate = Generar nuevos códigos de respaldo
account-home-backup-need-phone = Primero agregue un número de móvil: los códigos de respaldo sustituyen a los códigos que se envían a ese número.
account-home-backup-remove = Eliminar mis códigos de respaldo

account-home-apps-heading = Aplicaciones de autenticación
# Una aplicación de autenticación o una llave de acceso (ambas femeninas); $added y $used: «hace 3 días».
account-home-credential = { $name }, agregada { $added }
account-home-credential-used = { $name }, agregada { $added }, usada por última vez { $used }
account-home-remove = Eliminar
account-home-apps-none = No tiene ninguna aplicación de autenticación configurada.
# $label: «aplicación de autenticación» (en inglés, «authenticator app»).
account-home-app-set-up = Configurar una { $label }
account-home-app-set-up-another = Configurar otra { $label }

account-home-keys-heading = Llaves de acceso
account-home-keys-none = No tiene ninguna llave de acceso.
# $label: «llave de acceso» (en inglés, «passkey»).
account-home-key-add = Agregar una { $label }

account-home-sessions-heading = Dónde tiene la sesión iniciada
# $browser: «Firefox on Linux»; $started y $used: «hace 3 horas».
account-home-session = { $browser }, sesión iniciada { $started }, último uso { $used }
account-home-session-ip = { $browser } desde { $ip }, sesión iniciada { $started }, último uso { $used }
account-home-session-this = (este navegador)
account-home-session-sign-out-label = Cerrar la sesión de { $browser }, iniciada { $started }
account-home-session-sign-out = Cerrar sesión
account-home-sessions-end-others = Cerrar todas las demás sesiones
account-home-sessions-hint = Cerrar la sesión de un navegador anula lo que se le concedió, excepto el acceso sin conexión de una aplicación (que sigue funcionando sin usted): para eso, retire más abajo el acceso de esa aplicación.

account-home-clients-heading = Aplicaciones con acceso
# $scopes: «openid email»; $since: «hace 3 días».
account-home-client = { $name }, acceso concedido { $since }
account-home-client-scopes = { $name } ({ $scopes }), acceso concedido { $since }
account-home-client-remove-label = Retirar el acceso de { $name }
account-home-client-remove = Retirar el acceso
account-home-clients-none = Ninguna aplicación tiene acceso a su cuenta.

account-home-changes-heading = Cambios recientes

## backup-codes (los nuevos códigos de respaldo, mostrados una sola vez)

account-backup-codes-title = Sus códigos de respaldo · { $org }
account-backup-codes-heading = Sus nuevos códigos de respaldo
account-backup-codes-notice = Guarde estos códigos ahora: solo se muestran esta vez. Cada uno sirve una sola vez, en lugar de un código enviado por mensaje de texto. Sus códigos anteriores ya no funcionan.
account-backup-codes-back = Volver a su cuenta

## credential-setup (configurar una aplicación de autenticación; $label: «aplicación de autenticación»)

account-credential-setup-title = Configurar su { $label } · { $org }
account-credential-setup-heading = Configurar su { $label }
account-credential-setup-scan = Escanee este código QR con su { $label } (Google Authenticator, Microsoft Authenticator, 1Password, Aegis, …).
account-credential-setup-manual = ¿No puede escanearlo? Introduzca en su lugar esta clave en la aplicación (basada en el tiempo):
account-credential-setup-secret-note = Esta clave solo se muestra mientras configura la aplicación. Nadie de { $org } se la pedirá.
# $length: el número de dígitos (6).
account-credential-setup-code = Luego introduzca el código de { $length } dígitos que muestra la aplicación
account-credential-setup-submit = Guardar
account-credential-setup-cancel = Cancelar

## passkey-setup (agregar una llave de acceso; $label: «llave de acceso»)

account-passkey-setup-title = Agregar una { $label } · { $org }
account-passkey-setup-heading = Agregar una { $label }
account-passkey-setup-intro = Su dispositivo (este teléfono o equipo, o una llave de seguridad) crea una { $label } para su cuenta de { $org } y la protege con su huella dactilar, su rostro, un PIN o su bloqueo de pantalla. Después podrá iniciar sesión con ella en lugar de con un código.
account-passkey-setup-name = Un nombre, para distinguirla
account-passkey-setup-name-title = Un nombre de al menos una letra, un dígito o un signo
account-passkey-setup-noscript = Para agregar una llave de acceso se necesita JavaScript.
account-passkey-setup-create = Crear la { $label }
account-passkey-setup-cancel = Cancelar
