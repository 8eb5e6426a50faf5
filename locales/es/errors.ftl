# errors: the error pages of the browser-facing endpoints (authorization, sign-out, sign-in
# with another provider) and the errors of the registration and password reset forms.

## authorize: a sign-in request that cannot be sent back to its application.

errors-authorize-unusable-title = No se puede usar esta solicitud de inicio de sesión
errors-authorize-no-client-id = La solicitud no tiene client_id.
# $client: the client_id the request gave.
errors-authorize-unknown-client = Aquí no hay ninguna aplicación registrada con el client_id «{ $client }».
errors-authorize-no-redirect-uri = La solicitud no tiene redirect_uri.
errors-authorize-redirect-unregistered = El redirect_uri no está registrado para la aplicación «{ $client }». Debe coincidir exactamente con un URI registrado.
# $name: the parameter's name (client_id or redirect_uri).
errors-authorize-repeated = El parámetro { $name } aparece más de una vez.
errors-authorize-invalid-redirect-title = Redirección no válida
errors-authorize-invalid-redirect = El URI de redirección no es válido.

## params: the parameters of an authorization or sign-out request.

errors-params-invalid-title = Solicitud no válida
errors-params-invalid = No se pudieron leer los parámetros de la solicitud: deben estar codificados para URL, aparecer como máximo una vez cada uno y no contener caracteres de control como saltos de línea.

## logout

errors-logout-unusable-title = No se puede usar esta solicitud de cierre de sesión
errors-logout-hint-invalid = El id_token_hint no es un token de ID de este emisor.
errors-logout-client-mismatch = El client_id no coincide con el id_token_hint.
errors-logout-unknown-app = La aplicación indicada en esta solicitud de cierre de sesión no está registrada aquí.
errors-logout-redirect-unregistered = El post_logout_redirect_uri no está registrado para la aplicación (o ningún id_token_hint válido ni ningún client_id indica la aplicación).
errors-logout-unreadable-title = Solicitud de cierre de sesión no válida
errors-logout-unreadable = No se pudo leer la solicitud.
errors-logout-done-title = Sesión cerrada
errors-logout-done = Ha cerrado la sesión. Puede cerrar esta ventana.

## federation: signing in with another provider. $provider: its name ("Corp Directory").

errors-federation-unreachable-title = No se puede contactar con { $provider }
errors-federation-unreachable = No pudimos contactar con { $provider } para iniciar su sesión. Vuelva a intentarlo en un momento, o vuelva atrás e inicie sesión de otra forma.
errors-federation-no-profile-title = { $provider } no envió su perfil
errors-federation-no-profile = { $provider } inició su sesión, pero no envió su perfil (nombre, correo electrónico), así que todavía no se le ha creado ninguna cuenta. Vuelva a intentarlo en un momento; si sigue ocurriendo, avise a su administrador.
errors-federation-unverified-title = No se pudo verificar la respuesta de { $provider }
errors-federation-unverified = No se pudo verificar la respuesta de { $provider }, así que no se inició su sesión. Vuelva a la aplicación e inténtelo de nuevo; si sigue ocurriendo, avise a su administrador.
errors-federation-cancelled-title = Inicio de sesión cancelado
errors-federation-cancelled = { $provider } no inició su sesión (el inicio de sesión se canceló o se rechazó). Vuelva a la aplicación para intentarlo de nuevo, o inicie sesión de otra forma.
errors-federation-refused-title = { $provider } no pudo iniciar su sesión
# $code: the OAuth error code the provider answered with ("server_error").
errors-federation-refused = { $provider } respondió con el error «{ $code }». Vuelva a la aplicación e inténtelo de nuevo, o inicie sesión de otra forma.
errors-federation-no-account-title = No hay ninguna cuenta aquí
# $org: the organization's name.
errors-federation-no-account = Su cuenta de { $provider } no está vinculada a ninguna cuenta de { $org }. Pida acceso a su administrador, o inicie sesión de otra forma.
errors-federation-spent-title = Esta respuesta de inicio de sesión ha caducado
errors-federation-spent = Esta respuesta del proveedor de inicio de sesión ya se utilizó, ha caducado o no corresponde a este inicio de sesión. Vuelva a la aplicación y empiece de nuevo.
errors-federation-incomplete-title = Esta respuesta de inicio de sesión está incompleta
errors-federation-incomplete = A la respuesta del proveedor de inicio de sesión le falta el parámetro state. Vuelva a la aplicación y empiece de nuevo.

## register

errors-register-not-offered-title = El registro no está disponible
errors-register-not-offered = Aquí no puede crear una cuenta usted mismo. Pida una a su administrador.
# $max: the longest username (64).
errors-register-username-invalid = Elija un nombre de usuario de 1 a { $max } letras, cifras, puntos, guiones y guiones bajos (sin espacios ni @).
errors-register-username-reserved = Los nombres que empiezan así están reservados para cuentas de otros proveedores de inicio de sesión: elija otro nombre de usuario.
errors-register-email-not-ascii = Escriba una dirección con letras ASCII simples (la forma ASCII de la dirección que indica su proveedor).
errors-register-email-invalid = Escriba una dirección de correo electrónico válida.
errors-register-password-missing = Escriba su contraseña dos veces.
errors-register-password-mismatch = Las dos contraseñas no coinciden: escriba la misma contraseña dos veces.
errors-register-throttled-title = Demasiados registros
errors-register-throttled = Se han hecho demasiados registros desde su red. Vuelva a intentarlo más tarde.
errors-register-username-taken = El nombre de usuario { $username } ya está en uso: elija otro. Si es suyo, vuelva atrás e inicie sesión.
errors-register-username-taken-meanwhile-title = Ese nombre de usuario se ocupó mientras tanto
errors-register-username-taken-meanwhile = Alguien registró el mismo nombre de usuario antes de que usted abriera el enlace. Vuelva a la aplicación y regístrese de nuevo con otro.
errors-register-address-has-account-title = Esta dirección ya tiene una cuenta
errors-register-address-has-account = Se creó una cuenta con esta dirección de correo electrónico antes de que usted abriera el enlace. Inicie sesión con ella, o elija «¿Olvidó su contraseña?» en la página de inicio de sesión.

## reset: a password reset.

errors-reset-not-offered-title = El restablecimiento de contraseña no está disponible
errors-reset-not-offered = Esta organización no restablece contraseñas por correo electrónico. Consulte a su administrador.
errors-reset-password-missing = Escriba su nueva contraseña dos veces.
errors-reset-password-mismatch = Las dos contraseñas no coinciden: escriba la misma nueva contraseña dos veces.
