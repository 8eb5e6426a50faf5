# Die Anmeldeseite, Zustimmung, Abmeldung, die anderen Wege, gesendete Links.

## login

signin-login-page-title = Anmelden
signin-login-title = Bei { $app } anmelden
signin-login-reset-title = Passwort zurücksetzen
signin-login-reset-intro = Geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein: Wir senden einen Link an die bestätigte Adresse des Kontos. Öffnen Sie ihn in diesem Browser, um ein neues Passwort festzulegen.
signin-login-username = Benutzername
signin-login-password = Passwort
signin-login-submit = Anmelden
signin-login-forgot = Passwort vergessen?
signin-login-or = oder
signin-login-identifier = Benutzername oder E-Mail-Adresse
signin-login-send-link = Anmeldelink per E-Mail senden
signin-login-send-reset-link = Link zum Zurücksetzen per E-Mail senden
signin-login-back = Zurück zur Anmeldung
# $provider: der Name eines externen Identitätsanbieters („Corp Directory“).
signin-login-provider = Mit { $provider } anmelden
# $key: die Art des Schlüssels, übersetzt („Passkey“).
signin-login-key-needs-js = Die Anmeldung mit einem { $key } erfordert JavaScript.
signin-login-key-button = Mit einem { $key } anmelden
signin-login-register = Neu hier? <a href="{ $url }">Konto erstellen</a>

## consent

signin-consent-page-title = Zugriff erlauben
signin-consent-title = { $app } den Zugriff erlauben?
# Gefolgt von einer Liste dessen, was die Anwendung anfragt.
signin-consent-asking = { $app } möchte:
signin-consent-signed-in-as = Angemeldet als { $username }.
signin-consent-allow = Erlauben
signin-consent-deny = Ablehnen

## logout

signin-logout-page-title = Abmelden
signin-logout-title = Abmelden?
signin-logout-question = Möchten Sie sich von { $org } abmelden?
signin-logout-question-from-app = Möchten Sie sich von { $org } abmelden (Sie kommen von { $app })?
signin-logout-submit = Abmelden

## other-ways

signin-other-ways-title = Einen anderen Weg wählen
signin-other-ways-app = Stattdessen Ihre Authenticator-App verwenden
signin-other-ways-sms = Stattdessen einen per SMS gesendeten Code verwenden
signin-other-ways-backup = Stattdessen einen Backup-Code verwenden

## form-post

signin-form-post-title = Wird fortgesetzt…
signin-form-post-no-script = JavaScript ist deaktiviert: Klicken Sie auf die Schaltfläche, um fortzufahren.
signin-form-post-continue = Weiter

## magic-link-sent

signin-magic-link-sent-title = Prüfen Sie Ihre E-Mails
signin-magic-link-sent-sign-in = Falls <strong>{ $identifier }</strong> zu einem Konto mit einer bestätigten E-Mail-Adresse gehört, haben wir einen Anmeldelink an diese Adresse gesendet.
signin-magic-link-sent-validity = Der Link ist { $minutes ->
        [one] 1 Minute
       *[other] { $minutes } Minuten
    } lang gültig, nur einmal und nur in diesem Browser. Sie können den Tab mit der E-Mail schließen, nachdem Sie den Link geöffnet haben.
signin-magic-link-sent-reset = Falls <strong>{ $identifier }</strong> zu einem Konto mit einem Passwort und einer bestätigten E-Mail-Adresse gehört, haben wir einen Link an diese Adresse gesendet, mit dem Sie ein neues Passwort festlegen können.
signin-magic-link-sent-reset-validity = Der Link ist { $minutes ->
        [one] 1 Minute
       *[other] { $minutes } Minuten
    } lang gültig, nur einmal und nur in diesem Browser.
signin-magic-link-sent-back = Zurück zur Anmeldung

## Was jeder Bereich (Scope) einer Anwendung erlaubt (die Liste der Zustimmungsseite).

signin-scope-openid = Wissen, wer Sie sind (eine Kennung Ihres Kontos)
signin-scope-profile = Ihren Namen und Ihre Profilangaben sehen
signin-scope-email = Ihre E-Mail-Adresse sehen
signin-scope-phone = Ihre Telefonnummer sehen
signin-scope-address = Ihre Postanschrift sehen
signin-scope-offline-access = Zugriff behalten, während Sie nicht da sind (bis Sie ihn widerrufen)
signin-scope-api = { $api } mit der Berechtigung „{ $permission }“ verwenden
signin-scope-other = Die Berechtigung „{ $permission }“
