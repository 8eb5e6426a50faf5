## Errores de un paso (`StepError`).

engine-error-wrong-credentials = Nombre de usuario o contraseña incorrectos.
engine-error-identifier-missing = Introduzca su nombre de usuario o su dirección de correo electrónico.
engine-error-no-code-sent = Todavía no se ha enviado ningún código. Solicite un código nuevo.
engine-error-code-wrong-last = Ese código no es correcto y era el último intento: este código ya no funciona. Solicite un código nuevo.
engine-error-code-wrong = Ese código no es correcto. { $n ->
        [one] Queda 1 intento.
       *[other] Quedan { $n } intentos.
    }
engine-error-code-expired = Este código ha caducado. Solicite un código nuevo.
engine-error-code-used = Este código ya se ha utilizado. Solicite un código nuevo.
engine-error-code-void = Este código ya no funciona (demasiados intentos fallidos, o se envió un código más reciente). Solicite un código nuevo.
engine-error-not-sent = No pudimos enviar el código a este número. Solicite un código nuevo en un momento.
engine-error-still-trying = Todavía no hemos podido enviar el código y seguiremos intentándolo durante unos minutos. Si no ha llegado en un minuto, solicite un código nuevo.
engine-error-resend-wait = Espere { $n ->
        [one] 1 segundo
       *[other] { $n } segundos
    } antes de solicitar un código nuevo.
engine-error-resend-blocked = Se han solicitado demasiados códigos nuevos. Podrá volver a solicitar uno dentro de { $wait }.
engine-error-backup-code-wrong = Ese código de respaldo no es válido o ya se ha utilizado.
engine-error-sms-paused = Los mensajes de texto están en pausa por ahora: se enviaron demasiados. Use uno de sus códigos de respaldo si los tiene, o vuelva a intentarlo dentro de { $wait }.
engine-error-factor-code-wrong = Ese código no es correcto. Introduzca el código que muestra ahora su aplicación.
engine-error-code-replayed = Ese código ya se ha utilizado. Espere a que su aplicación muestre uno nuevo.
engine-error-not-enrolled = Todavía no ha configurado esto. Inicie sesión de otra forma o consulte a su administrador.
engine-error-no-more-codes = No se pueden enviar más códigos en este inicio de sesión. Use el último código, otra forma, o vuelva a empezar.
engine-error-address-throttled = Se han enviado demasiados códigos a esta dirección últimamente. Vuelva a intentarlo más tarde o use otra forma.
engine-error-mail-not-sent = No pudimos enviar el correo electrónico. Solicite un código nuevo en un momento o use otra forma.
engine-error-key-refused = Esa llave de acceso no le ha permitido iniciar sesión. Inténtelo con una llave de acceso que haya añadido a esta cuenta, o use otra forma.
engine-error-key-timed-out = Esa solicitud de llave de acceso ya se utilizó o tardó demasiado. Vuelva a intentarlo.

## Números a los que no se envían códigos.

engine-number-invalid = Este no es un número de móvil válido. Indíquelo con su prefijo de país, por ejemplo +34 612 345 678.
engine-number-premium-rate = No se pueden enviar códigos a números de tarificación adicional o de coste compartido.
engine-number-line-type = Solo se pueden enviar códigos a números de móvil.
engine-number-country = No se pueden enviar códigos a números de este país.

## Avisos.

engine-notice-new-code-sent = Hemos enviado un código nuevo. Los códigos anteriores ya no funcionan.

## Enlaces a una llave de acceso.

engine-key-create = Crear una llave de acceso en su lugar
engine-key-use = Usar su llave de acceso en su lugar

## Por qué un inicio de sesión no puede continuar (`Refusal`): título y mensaje.

engine-refusal-expired-title = Este inicio de sesión ha caducado
engine-refusal-expired = Esta página de inicio de sesión ha caducado, ya se utilizó o se abrió en otro navegador. Vuelva a la aplicación y empiece de nuevo.
engine-refusal-form-expired-title = El formulario ha caducado
engine-refusal-form-expired = Este formulario no se envió desde la página actual. Vuelva atrás, recargue la página e inténtelo de nuevo.
engine-refusal-locked-title = Cuenta bloqueada
engine-refusal-locked = Esta cuenta está bloqueada tras demasiados inicios de sesión fallidos. Vuelva a intentarlo dentro de { $wait }.
engine-refusal-network-throttled-title = Demasiados inicios de sesión fallidos
engine-refusal-network-throttled = Ha habido demasiados inicios de sesión fallidos desde su red. Vuelva a intentarlo dentro de { $wait }.
engine-refusal-disabled-title = Cuenta desactivada
engine-refusal-disabled = Esta cuenta está desactivada. Póngase en contacto con su administrador.
engine-refusal-another-account-title = Otra cuenta
engine-refusal-another-account = Este inicio de sesión es para otra cuenta. Vuelva atrás y empiece de nuevo.
engine-refusal-confirm-again-title = Vuelva a confirmar que es usted
engine-refusal-confirm-again = Ha pasado demasiado tiempo desde que confirmó que es usted. Vuelva a su cuenta y empiece de nuevo.
engine-refusal-links-throttled-title = Demasiados enlaces de inicio de sesión
engine-refusal-links-throttled = Se han solicitado demasiados enlaces (para iniciar sesión o restablecer una contraseña) desde su red. Espere un rato o inicie sesión de otra forma.
engine-refusal-link-invalid-title = Este enlace no funciona
engine-refusal-link-invalid = Este enlace no es válido. Vuelva a la aplicación y solicite uno nuevo.
engine-refusal-link-used-title = Este enlace ya se utilizó
engine-refusal-link-used = Cada enlace que enviamos por correo funciona una sola vez, y un enlace más reciente sustituye a los anteriores. Vuelva a la aplicación y solicite uno nuevo si lo necesita.
engine-refusal-link-expired-title = Este enlace ha caducado
engine-refusal-link-expired = Los enlaces que enviamos por correo solo funcionan unos minutos. Vuelva a la aplicación y solicite uno nuevo.
engine-refusal-link-other-browser-title = Abra el enlace en el navegador donde lo solicitó
engine-refusal-link-other-browser = Por su seguridad, un enlace que enviamos por correo solo funciona en el navegador donde lo solicitó. Ábralo allí (copie la dirección del correo si es necesario).

## Cómo las páginas y el SMS llaman a un inicio de sesión en el área de la cuenta (para una
## aplicación, su nombre). Aparece en «Iniciar sesión en …» y «… para … es».

engine-purpose-account = { $org } (su cuenta)
engine-purpose-reset = { $org } (restablecer contraseña)
