# mail: the emails. Subjects and notices are plain text; the link mails have a text part
# (no markup, nothing escaped) and an HTML part (arguments escaped). A message used by both
# parts holds no markup. A "-text" message is the text part's wording of a sentence whose
# lines are broken there: keep its line break (after the colon).

## Subjects. The link mails also show theirs as the heading.

# { $app }: the application's name.
mail-subject-magic-link = Bei { $app } anmelden
mail-subject-password-reset = Ihr Passwort für { $org } zurücksetzen
mail-subject-registration = Erstellung Ihres Kontos bei { $org } abschließen
# A registration with an address that already has an account.
mail-subject-registration-existing = Sie haben bereits ein Konto bei { $org }
# Notice after a password change in the account area.
mail-subject-password-changed = Ihr Passwort für { $org } wurde geändert
# Notice after a password reset by email link.
mail-subject-password-reset-done = Ihr Passwort für { $org } wurde zurückgesetzt

## Shared by the link mails

# { $link }: the address of the link.
mail-link-copy = Oder kopieren Sie diese Adresse: { $link }
mail-link-expiry = Der Link funktioniert nur einmal und läuft in { $minutes ->
        [one] 1 Minute
       *[other] { $minutes } Minuten
    } ab.

## magic-link

mail-magic-link-asked = Jemand (hoffentlich Sie) hat mit dieser E-Mail-Adresse eine Anmeldung bei { $app } ({ $org }) angefordert.
mail-magic-link-open = Öffnen Sie diesen Link in dem Browser, in dem Sie ihn angefordert haben:
# The button.
mail-magic-link-button = Anmelden
mail-magic-link-ignore = Falls Sie ihn nicht angefordert haben, ignorieren Sie diese E-Mail: Niemand kann den Link in einem anderen Browser verwenden.
mail-magic-link-ignore-text =
    Falls Sie ihn nicht angefordert haben, ignorieren Sie diese E-Mail:
    Niemand kann den Link in einem anderen Browser verwenden.

## password-reset

mail-password-reset-asked = Jemand (hoffentlich Sie) hat angefordert, das Passwort des Kontos bei { $org } zurückzusetzen, das diese E-Mail-Adresse verwendet.
mail-password-reset-open = Öffnen Sie diesen Link in dem Browser, in dem Sie ihn angefordert haben, und wählen Sie dann ein neues Passwort:
# The button.
mail-password-reset-button = Neues Passwort wählen
mail-password-reset-ignore = Falls Sie ihn nicht angefordert haben, ignorieren Sie diese E-Mail: Ihr Passwort bleibt unverändert, und niemand kann den Link in einem anderen Browser verwenden.
mail-password-reset-ignore-text =
    Falls Sie ihn nicht angefordert haben, ignorieren Sie diese E-Mail:
    Ihr Passwort bleibt unverändert, und niemand kann den Link in einem anderen Browser verwenden.

## registration

mail-registration-asked = Jemand (hoffentlich Sie) hat mit dieser E-Mail-Adresse ein Konto für { $app } registriert.
mail-registration-open = Öffnen Sie diesen Link in dem Browser, in dem Sie sich registriert haben, um das Konto zu erstellen:
# The button.
mail-registration-button = Mein Konto erstellen
mail-registration-ignore = Falls Sie sich nicht registriert haben, ignorieren Sie diese E-Mail: Es wird kein Konto erstellt, und niemand kann den Link in einem anderen Browser verwenden.
mail-registration-ignore-text =
    Falls Sie sich nicht registriert haben, ignorieren Sie diese E-Mail:
    Es wird kein Konto erstellt, und niemand kann den Link in einem anderen Browser verwenden.

## Notices: plain text, one message a paragraph (joined with a blank line).

mail-notice-password-changed = Das Passwort Ihres Kontos bei { $org } wurde geändert, und alle anderen Browser, die bei diesem Konto angemeldet waren, wurden abgemeldet.
mail-notice-password-changed-not-you = Falls Sie es nicht geändert haben, informieren Sie umgehend Ihren Administrator.
mail-notice-password-reset = Das Passwort Ihres Kontos bei { $org } wurde über einen an diese Adresse gesendeten Link zurückgesetzt, und alle Browser, die bei diesem Konto angemeldet waren, wurden abgemeldet.
mail-notice-password-reset-not-you = Falls Sie es nicht zurückgesetzt haben, informieren Sie umgehend Ihren Administrator.
mail-notice-registration-existing = Jemand (hoffentlich Sie) hat versucht, mit dieser E-Mail-Adresse ein neues Konto bei { $org } für { $app } zu registrieren. Diese Adresse gehört bereits zu einem Konto; es wurde kein neues Konto erstellt.
# Where the organization resets passwords by email: quote the sign-in page's link as it reads there.
mail-notice-registration-existing-reset = Melden Sie sich mit Ihrem bestehenden Konto an; falls Sie sein Passwort vergessen haben, wählen Sie auf der Anmeldeseite „Passwort vergessen?“.
# Where it does not.
mail-notice-registration-existing-admin = Melden Sie sich mit Ihrem bestehenden Konto an; falls Sie sich nicht anmelden können, wenden Sie sich an Ihren Administrator.
mail-notice-registration-existing-not-you = Falls Sie das nicht waren, ignorieren Sie diese E-Mail.
