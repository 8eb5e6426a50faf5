# La página de inicio de sesión, el consentimiento, el cierre de sesión, las otras formas, los enlaces enviados.

## login

signin-login-page-title = Iniciar sesión
signin-login-title = Iniciar sesión en { $app }
signin-login-reset-title = Restablecer la contraseña
signin-login-reset-intro = Escriba su nombre de usuario o su dirección de correo electrónico: enviaremos un enlace a la dirección verificada de la cuenta. Ábralo en este navegador para elegir una nueva contraseña.
signin-login-username = Nombre de usuario
signin-login-password = Contraseña
signin-login-submit = Iniciar sesión
signin-login-forgot = ¿Olvidó su contraseña?
signin-login-or = o
signin-login-identifier = Nombre de usuario o correo electrónico
signin-login-send-link = Enviarme un enlace de inicio de sesión
signin-login-send-reset-link = Enviarme un enlace de restablecimiento
signin-login-back = Volver al inicio de sesión
# $provider: el nombre de un proveedor de identidad externo («Corp Directory»).
signin-login-provider = Iniciar sesión con { $provider }
# $key: el tipo de llave, ya traducido («llave de acceso»).
signin-login-key-needs-js = Para iniciar sesión con su { $key } se necesita JavaScript.
signin-login-key-button = Iniciar sesión con su { $key }
signin-login-register = ¿Primera vez aquí? <a href="{ $url }">Crear una cuenta</a>

## consent

signin-consent-page-title = Permitir el acceso
signin-consent-title = ¿Permitir el acceso a { $app }?
# Seguido de una lista de lo que solicita la aplicación.
signin-consent-asking = { $app } solicita permiso para:
signin-consent-signed-in-as = Sesión iniciada como { $username }.
signin-consent-allow = Permitir
signin-consent-deny = Denegar

## logout

signin-logout-page-title = Cerrar sesión
signin-logout-title = ¿Cerrar sesión?
signin-logout-question = ¿Desea cerrar la sesión en { $org }?
signin-logout-question-from-app = ¿Desea cerrar la sesión en { $org } (viene de { $app })?
signin-logout-submit = Cerrar sesión

## other-ways

signin-other-ways-title = Probar de otra forma
signin-other-ways-app = Usar su aplicación de autenticación en su lugar
signin-other-ways-sms = Usar un código enviado por SMS en su lugar
signin-other-ways-backup = Usar un código de respaldo en su lugar

## form-post

signin-form-post-title = Continuando…
signin-form-post-no-script = JavaScript está desactivado: pulse el botón para continuar.
signin-form-post-continue = Continuar

## magic-link-sent

signin-magic-link-sent-title = Revise su correo electrónico
signin-magic-link-sent-sign-in = Si <strong>{ $identifier }</strong> pertenece a una cuenta con una dirección de correo electrónico verificada, le hemos enviado allí un enlace de inicio de sesión.
signin-magic-link-sent-validity = El enlace funciona durante { $minutes ->
        [one] 1 minuto
       *[other] { $minutes } minutos
    }, una sola vez y solo en este navegador. Puede cerrar la pestaña del correo después de abrir el enlace.
signin-magic-link-sent-reset = Si <strong>{ $identifier }</strong> pertenece a una cuenta con contraseña y una dirección de correo electrónico verificada, le hemos enviado allí un enlace para elegir una nueva contraseña.
signin-magic-link-sent-reset-validity = El enlace funciona durante { $minutes ->
        [one] 1 minuto
       *[other] { $minutes } minutos
    }, una sola vez y solo en este navegador.
signin-magic-link-sent-back = Volver al inicio de sesión

## Lo que cada ámbito (scope) permite a una aplicación (la lista de la página de consentimiento).

signin-scope-openid = Saber quién es usted (un identificador de su cuenta)
signin-scope-profile = Ver su nombre y los datos de su perfil
signin-scope-email = Ver su dirección de correo electrónico
signin-scope-phone = Ver su número de teléfono
signin-scope-address = Ver su dirección postal
signin-scope-offline-access = Mantener el acceso mientras usted no está (hasta que lo revoque)
signin-scope-api = Usar { $api } con el permiso «{ $permission }»
signin-scope-other = El permiso «{ $permission }»
