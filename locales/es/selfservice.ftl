# selfservice: the pages of self-registration ("Create an account") and of a password reset.

## shared by several pages

selfservice-back-to-signin = Volver al inicio de sesión
selfservice-continue = Continuar con el inicio de sesión
# { $url }: the account area.
selfservice-back-or-account = Vuelva a la aplicación e inicie sesión allí, o <a href="{ $url }">abra su cuenta</a>.
# Under the new password's field (registration and password reset); { $min }: the policy's minimum length.
selfservice-password-hint = Al menos { $min ->
        [one] 1 carácter
       *[other] { $min } caracteres
    }. Se admite cualquier carácter; unas cuantas palabras son fáciles de recordar y difíciles de adivinar. No debe ser una contraseña común ni contener su nombre de usuario, su dirección de correo electrónico o el nombre de la organización.

## register

# The page's title and heading.
selfservice-register-title = Crear una cuenta
selfservice-register-username = Nombre de usuario
selfservice-register-username-hint = Con él inicia sesión: letras, cifras, puntos, guiones y guiones bajos, hasta 64.
selfservice-register-email = Dirección de correo electrónico
selfservice-register-email-hint = Le enviaremos un enlace a esa dirección: su cuenta existirá cuando lo abra.
selfservice-register-password = Contraseña
selfservice-register-confirm = Repita la contraseña
selfservice-register-submit = Crear mi cuenta

## register-sent

# The page's title and heading.
selfservice-register-sent-title = Revise su correo electrónico
selfservice-register-sent-status = Hemos enviado un enlace a <strong>{ $email }</strong>. Ábralo en este navegador para crear su cuenta.
selfservice-register-sent-lifetime = El enlace es válido durante { $minutes ->
        [one] 1 minuto
       *[other] { $minutes } minutos
    }, una sola vez y solo en este navegador. Hasta entonces no existe ninguna cuenta: si no le llega ningún correo, compruebe la dirección y regístrese de nuevo.

## register-done

selfservice-register-done-title = Cuenta creada
selfservice-register-done-heading = Su cuenta está lista
selfservice-register-done-ready = Su dirección de correo electrónico está verificada y ya puede iniciar sesión.
# When the application asks for a second factor the new account does not have yet.
selfservice-register-done-ready-enroll = Su dirección de correo electrónico está verificada y ya puede iniciar sesión: en el primer inicio de sesión también configurará su segundo factor.

## password-reset

# The page's title and heading.
selfservice-password-reset-title = Elija una nueva contraseña
selfservice-password-reset-password = Nueva contraseña
selfservice-password-reset-confirm = Repita la nueva contraseña
selfservice-password-reset-submit = Guardar mi nueva contraseña
selfservice-password-reset-sign-out = Al guardarla, se cerrará la sesión de su cuenta en todos los navegadores. Después, inicie sesión con la nueva contraseña y, si lo tiene, con su segundo factor.

## password-reset-done

selfservice-password-reset-done-title = Contraseña guardada
selfservice-password-reset-done-heading = Su nueva contraseña está guardada
selfservice-password-reset-done-status = Se cerró la sesión de su cuenta en todos los navegadores. Inicie sesión con su nueva contraseña y, si lo tiene, con su segundo factor.
