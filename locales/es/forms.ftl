### Lo que responden los formularios del área de la cuenta (un aviso o lo que no es correcto), y por
### qué la política de contraseñas rechaza una (cuenta, restablecimiento de contraseña, registro).
### Texto sin formato: sin marcado.

## account (la página de la cuenta)

# Tras un cambio: el aviso en la parte superior de la página.
forms-account-notice-mobile-number-saved = Se guardó su número de móvil.
forms-account-notice-backup-codes-removed = Se eliminaron sus códigos de respaldo.
forms-account-notice-credential-added = Se agregó su aplicación de autenticación.
forms-account-notice-credential-removed = Se eliminó la aplicación de autenticación o la llave de acceso.
forms-account-notice-key-added = Se agregó su llave de acceso.
forms-account-notice-sessions-ended = Se cerraron esas sesiones.
forms-account-notice-password-changed = Se cambió su contraseña y se cerró la sesión en todos los demás navegadores.
forms-account-notice-application-access-removed = La aplicación ya no tiene acceso a su cuenta.

forms-account-backup-need-phone = Primero agregue un número de móvil: los códigos de respaldo sustituyen a los códigos que se envían a ese número.
forms-account-backup-choose = Elija qué hacer con sus códigos de respaldo.
forms-account-phone-by-admin = Los números de móvil los agrega su administrador: pídale que agregue el suyo.
# $reason: el motivo, una oración («Solo se pueden enviar códigos a números de móvil.»).
forms-account-phone-unusable = Ese número de móvil no se puede usar. { $reason }

# Los cambios recientes, listados como «hace 3 horas: contraseña cambiada (detalle)».
forms-account-change-backup-codes-generated = códigos de respaldo generados
forms-account-change-backup-codes-removed = códigos de respaldo eliminados
forms-account-change-mobile-number-changed = número de móvil cambiado
forms-account-change-credential-added = credencial agregada
forms-account-change-credential-removed = credencial eliminada
forms-account-change-sessions-ended = sesiones cerradas
forms-account-change-application-access-removed = acceso de una aplicación retirado
forms-account-change-password-changed = contraseña cambiada
forms-account-change-password-reset = contraseña restablecida
forms-account-change-registered = cuenta registrada

## credentials (aplicaciones de autenticación)

forms-credentials-app-by-admin = Aquí no puede agregar usted mismo una aplicación de autenticación: consulte a su administrador (con un número de móvil o códigos de respaldo, sí puede).
forms-credentials-names-too-long = El nombre de su organización o su nombre de usuario es demasiado largo para una aplicación de autenticación: consulte a su administrador.
forms-credentials-code-wrong = Ese código no es correcto. Introduzca el código que muestra ahora su aplicación.
forms-credentials-setup-expired = Esta configuración ha caducado: empiece de nuevo.
forms-credentials-not-yours = Esa aplicación de autenticación o llave de acceso no es suya.
forms-credentials-choose = Elija qué hacer con sus aplicaciones de autenticación.

## passkeys (llaves de acceso)

forms-passkeys-key-by-admin = Aquí no puede agregar usted mismo una llave de acceso: consulte a su administrador (con un número de móvil, una aplicación de autenticación o códigos de respaldo, sí puede).
# El nombre que se propone para una nueva llave de acceso; $n: cuántas tendrá el usuario con ella.
forms-passkeys-default-name = Llave de acceso { $n }
# $max: el nombre más largo (64).
forms-passkeys-name-length = Dé a la llave de acceso un nombre de 1 a { $max } caracteres.
forms-passkeys-setup-expired = La configuración de esta llave de acceso ha caducado o ya se usó: inténtelo de nuevo.
forms-passkeys-taken = Esa llave de acceso ya está registrada.
forms-passkeys-not-accepted = No se aceptó la respuesta de su dispositivo: inténtelo de nuevo.
forms-passkeys-choose = Elija qué hacer con sus llaves de acceso.

## password (cambiar la contraseña)

forms-password-none = Su cuenta no usa contraseña para iniciar sesión.
forms-password-confirm-first = Para cambiar su contraseña, primero confirme que es usted con su contraseña actual (inicie sesión de nuevo con ella) y luego cámbiela.
forms-password-twice = Escriba su nueva contraseña dos veces.
forms-password-differ = Las dos contraseñas no coinciden: escriba la misma contraseña nueva dos veces.

## sessions (dónde tiene el usuario la sesión iniciada, aplicaciones con acceso)

# Un navegador tal como lo nombra la lista de sesiones; $browser: «Firefox», $os: «Linux» (nombres de productos, sin traducir).
forms-sessions-browser-on = { $browser } en { $os }
forms-sessions-browser-any-on = Un navegador en { $os }
forms-sessions-browser-unknown = Navegador desconocido
forms-sessions-this-browser = Este es el navegador que está usando: cierre la sesión en él desde la aplicación.
forms-sessions-not-yours = Esa sesión ya ha terminado o no es suya.
forms-sessions-app-no-access = Esa aplicación no tiene acceso a su cuenta.

## policy (una contraseña nueva rechazada; cuenta, restablecimiento, registro)

# $min: el mínimo de caracteres (de 8 a 64).
forms-policy-too-short = Su nueva contraseña debe tener al menos { $min ->
        [one] 1 carácter
       *[other] { $min } caracteres
    }.
# $max: el máximo de caracteres (128).
forms-policy-too-long = Su nueva contraseña puede tener como máximo { $max } caracteres.
forms-policy-repeated = Su nueva contraseña no puede ser un mismo carácter repetido.
forms-policy-names = Su nueva contraseña no puede contener su nombre de usuario, su dirección de correo electrónico ni el nombre de la organización.
forms-policy-common = Esa contraseña es una de las más usadas, las que los atacantes prueban primero: elija otra.
