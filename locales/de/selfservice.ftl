# selfservice: the pages of self-registration ("Create an account") and of a password reset.

## shared by several pages

selfservice-back-to-signin = Zurück zur Anmeldung
selfservice-continue = Weiter zur Anmeldung
# { $url }: the account area.
selfservice-back-or-account = Kehren Sie zur Anwendung zurück und melden Sie sich dort an, oder <a href="{ $url }">öffnen Sie Ihr Konto</a>.
# Under the new password's field (registration and password reset); { $min }: the policy's minimum length.
selfservice-password-hint = Mindestens { $min ->
        [one] 1 Zeichen
       *[other] { $min } Zeichen
    }. Alle Zeichen sind erlaubt; ein paar Wörter sind leicht zu merken und schwer zu erraten. Kein gängiges Passwort und keines, das Ihren Benutzernamen, Ihre E-Mail-Adresse oder den Namen der Organisation enthält.

## register

# The page's title and heading.
selfservice-register-title = Konto erstellen
selfservice-register-username = Benutzername
selfservice-register-username-hint = Damit melden Sie sich an: Buchstaben, Ziffern, Punkte, Bindestriche und Unterstriche, höchstens 64.
selfservice-register-email = E-Mail-Adresse
selfservice-register-email-hint = Wir senden einen Link an diese Adresse: Ihr Konto entsteht erst, wenn Sie ihn öffnen.
selfservice-register-password = Passwort
selfservice-register-confirm = Passwort wiederholen
selfservice-register-submit = Mein Konto erstellen

## register-sent

# The page's title and heading.
selfservice-register-sent-title = Prüfen Sie Ihre E-Mails
selfservice-register-sent-status = Wir haben einen Link an <strong>{ $email }</strong> gesendet. Öffnen Sie ihn in diesem Browser, um Ihr Konto zu erstellen.
selfservice-register-sent-lifetime = Der Link ist { $minutes ->
        [one] 1 Minute
       *[other] { $minutes } Minuten
    } lang gültig, nur einmal und nur in diesem Browser. Bis dahin gibt es kein Konto: Wenn keine E-Mail ankommt, prüfen Sie die Adresse und registrieren Sie sich erneut.

## register-done

selfservice-register-done-title = Konto erstellt
selfservice-register-done-heading = Ihr Konto ist bereit
selfservice-register-done-ready = Ihre E-Mail-Adresse ist bestätigt, und Sie können sich jetzt anmelden.
# When the application asks for a second factor the new account does not have yet.
selfservice-register-done-ready-enroll = Ihre E-Mail-Adresse ist bestätigt, und Sie können sich jetzt anmelden: Bei der ersten Anmeldung richten Sie auch Ihren zweiten Faktor ein.

## password-reset

# The page's title and heading.
selfservice-password-reset-title = Neues Passwort wählen
selfservice-password-reset-password = Neues Passwort
selfservice-password-reset-confirm = Neues Passwort wiederholen
selfservice-password-reset-submit = Mein neues Passwort speichern
selfservice-password-reset-sign-out = Beim Speichern werden alle Browser von Ihrem Konto abgemeldet. Danach melden Sie sich mit dem neuen Passwort und, falls vorhanden, Ihrem zweiten Faktor an.

## password-reset-done

selfservice-password-reset-done-title = Passwort gespeichert
selfservice-password-reset-done-heading = Ihr neues Passwort ist gespeichert
selfservice-password-reset-done-status = Alle Browser, die bei Ihrem Konto angemeldet waren, wurden abgemeldet. Melden Sie sich mit Ihrem neuen Passwort und, falls vorhanden, Ihrem zweiten Faktor an.
