# mail: the emails. Subjects and notices are plain text; the link mails have a text part
# (no markup, nothing escaped) and an HTML part (arguments escaped). A message used by both
# parts holds no markup. A "-text" message is the text part's wording of a sentence whose
# lines are broken there: keep its line break (after the colon).

## Subjects. The link mails also show theirs as the heading.

# { $app }: the application's name.
mail-subject-magic-link = Inicie sesión en { $app }
mail-subject-password-reset = Restablezca su contraseña de { $org }
mail-subject-registration = Termine de crear su cuenta de { $org }
# A registration with an address that already has an account.
mail-subject-registration-existing = Ya tiene una cuenta en { $org }
# Notice after a password change in the account area.
mail-subject-password-changed = Se cambió su contraseña de { $org }
# Notice after a password reset by email link.
mail-subject-password-reset-done = Se restableció su contraseña de { $org }

## Shared by the link mails

# { $link }: the address of the link.
mail-link-copy = O copie esta dirección: { $link }
mail-link-expiry = El enlace funciona una sola vez y caduca dentro de { $minutes ->
        [one] 1 minuto
       *[other] { $minutes } minutos
    }.

## magic-link

mail-magic-link-asked = Alguien (esperamos que usted) pidió iniciar sesión en { $app } ({ $org }) con esta dirección de correo electrónico.
mail-magic-link-open = Abra este enlace en el navegador desde el que lo pidió:
# The button.
mail-magic-link-button = Iniciar sesión
mail-magic-link-ignore = Si no lo pidió, ignore este correo: nadie puede usar el enlace desde otro navegador.
mail-magic-link-ignore-text =
    Si no lo pidió, ignore este correo:
    nadie puede usar el enlace desde otro navegador.

## password-reset

mail-password-reset-asked = Alguien (esperamos que usted) pidió restablecer la contraseña de la cuenta de { $org } que usa esta dirección de correo electrónico.
mail-password-reset-open = Abra este enlace en el navegador desde el que lo pidió y, a continuación, elija una nueva contraseña:
# The button.
mail-password-reset-button = Elegir una nueva contraseña
mail-password-reset-ignore = Si no lo pidió, ignore este correo: su contraseña seguirá siendo la misma y nadie puede usar el enlace desde otro navegador.
mail-password-reset-ignore-text =
    Si no lo pidió, ignore este correo:
    su contraseña seguirá siendo la misma y nadie puede usar el enlace desde otro navegador.

## registration

mail-registration-asked = Alguien (esperamos que usted) registró una cuenta para { $app } con esta dirección de correo electrónico.
mail-registration-open = Abra este enlace en el navegador desde el que se registró para crear la cuenta:
# The button.
mail-registration-button = Crear mi cuenta
mail-registration-ignore = Si no se registró, ignore este correo: no se creará ninguna cuenta y nadie puede usar el enlace desde otro navegador.
mail-registration-ignore-text =
    Si no se registró, ignore este correo:
    no se creará ninguna cuenta y nadie puede usar el enlace desde otro navegador.

## Notices: plain text, one message a paragraph (joined with a blank line).

mail-notice-password-changed = Se cambió la contraseña de su cuenta de { $org } y se cerró la sesión en todos los demás navegadores en los que estaba abierta.
mail-notice-password-changed-not-you = Si no la cambió usted, avise de inmediato a su administrador.
mail-notice-password-reset = Se restableció la contraseña de su cuenta de { $org } con un enlace enviado a esta dirección y se cerró la sesión en todos los navegadores en los que estaba abierta.
mail-notice-password-reset-not-you = Si no la restableció usted, avise de inmediato a su administrador.
mail-notice-registration-existing = Alguien (esperamos que usted) intentó registrar una nueva cuenta de { $org } para { $app } con esta dirección de correo electrónico, que ya pertenece a una cuenta. No se creó ninguna cuenta nueva.
# Where the organization resets passwords by email: quote the sign-in page's link as it reads there.
mail-notice-registration-existing-reset = Para iniciar sesión, use su cuenta existente; si olvidó su contraseña, elija «¿Olvidó su contraseña?» en la página de inicio de sesión.
# Where it does not.
mail-notice-registration-existing-admin = Para iniciar sesión, use su cuenta existente; si no puede iniciar sesión, consulte a su administrador.
mail-notice-registration-existing-not-you = Si no fue usted, ignore este correo.
