## Fehler eines Schritts (`StepError`).

engine-error-wrong-credentials = Benutzername oder Passwort ist falsch.
engine-error-identifier-missing = Geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein.
engine-error-no-code-sent = Es wurde noch kein Code gesendet. Fordern Sie einen neuen Code an.
engine-error-code-wrong-last = Dieser Code ist nicht richtig, und das war der letzte Versuch: Der Code funktioniert nicht mehr. Fordern Sie einen neuen Code an.
engine-error-code-wrong = Dieser Code ist nicht richtig. { $n ->
        [one] Noch 1 Versuch.
       *[other] Noch { $n } Versuche.
    }
engine-error-code-expired = Dieser Code ist abgelaufen. Fordern Sie einen neuen Code an.
engine-error-code-used = Dieser Code wurde bereits verwendet. Fordern Sie einen neuen Code an.
engine-error-code-void = Dieser Code funktioniert nicht mehr (zu viele falsche Versuche oder ein neuerer Code wurde gesendet). Fordern Sie einen neuen Code an.
engine-error-not-sent = Wir konnten den Code nicht an diese Nummer senden. Fordern Sie gleich einen neuen Code an.
engine-error-still-trying = Wir konnten den Code noch nicht senden und versuchen es einige Minuten lang weiter. Ist er in einer Minute nicht angekommen, fordern Sie einen neuen Code an.
engine-error-resend-wait = Bitte warten Sie { $n ->
        [one] 1 Sekunde
       *[other] { $n } Sekunden
    }, bevor Sie einen neuen Code anfordern.
engine-error-resend-blocked = Es wurden zu viele neue Codes angefordert. Sie können in { $wait } wieder einen anfordern.
engine-error-backup-code-wrong = Dieser Backup-Code ist ungültig oder wurde bereits verwendet.
engine-error-sms-paused = SMS sind vorübergehend ausgesetzt, weil zu viele gesendet wurden. Verwenden Sie einen Ihrer Backup-Codes, falls Sie welche haben, oder versuchen Sie es in { $wait } erneut.
engine-error-factor-code-wrong = Dieser Code ist nicht richtig. Geben Sie den Code ein, den Ihre App gerade anzeigt.
engine-error-code-replayed = Dieser Code wurde bereits verwendet. Warten Sie, bis Ihre App einen neuen anzeigt.
engine-error-not-enrolled = Sie haben dies noch nicht eingerichtet. Melden Sie sich auf andere Weise an oder wenden Sie sich an Ihren Administrator.
engine-error-no-more-codes = In dieser Anmeldung können keine weiteren Codes gesendet werden. Verwenden Sie den letzten Code, einen anderen Weg, oder beginnen Sie die Anmeldung neu.
engine-error-address-throttled = An diese Adresse wurden in letzter Zeit zu viele Codes gesendet. Versuchen Sie es später erneut oder wählen Sie einen anderen Weg.
engine-error-mail-not-sent = Wir konnten die E-Mail nicht senden. Fordern Sie gleich einen neuen Code an oder wählen Sie einen anderen Weg.
engine-error-key-refused = Mit diesem Passkey konnten Sie nicht angemeldet werden. Versuchen Sie es mit einem Passkey, den Sie diesem Konto hinzugefügt haben, oder wählen Sie einen anderen Weg.
engine-error-key-timed-out = Diese Passkey-Anfrage wurde bereits verwendet oder hat zu lange gedauert. Versuchen Sie es erneut.

## Nummern, an die keine Codes gesendet werden.

engine-number-invalid = Dies ist keine gültige Mobilnummer. Geben Sie sie mit Landesvorwahl an, etwa +49 151 23456789.
engine-number-premium-rate = An Premium- oder Sonderrufnummern können keine Codes gesendet werden.
engine-number-line-type = Codes können nur an Mobilnummern gesendet werden.
engine-number-country = An Nummern dieses Landes können keine Codes gesendet werden.

## Hinweise.

engine-notice-new-code-sent = Wir haben einen neuen Code gesendet. Frühere Codes funktionieren nicht mehr.

## Links zu einem Passkey.

engine-key-create = Stattdessen einen Passkey erstellen
engine-key-use = Stattdessen Ihren Passkey verwenden

## Warum eine Anmeldung nicht weitergehen kann (`Refusal`): Titel und Meldung.

engine-refusal-expired-title = Diese Anmeldung ist abgelaufen
engine-refusal-expired = Diese Anmeldeseite ist abgelaufen, wurde bereits verwendet oder in einem anderen Browser geöffnet. Kehren Sie zur Anwendung zurück und beginnen Sie erneut.
engine-refusal-form-expired-title = Das Formular ist abgelaufen
engine-refusal-form-expired = Dieses Formular wurde nicht von der aktuellen Seite gesendet. Gehen Sie zurück, laden Sie die Seite neu und versuchen Sie es erneut.
engine-refusal-locked-title = Konto gesperrt
engine-refusal-locked = Dieses Konto ist nach zu vielen fehlgeschlagenen Anmeldungen gesperrt. Versuchen Sie es in { $wait } erneut.
engine-refusal-network-throttled-title = Zu viele fehlgeschlagene Anmeldungen
engine-refusal-network-throttled = Aus Ihrem Netzwerk gab es zu viele fehlgeschlagene Anmeldungen. Versuchen Sie es in { $wait } erneut.
engine-refusal-disabled-title = Konto deaktiviert
engine-refusal-disabled = Dieses Konto ist deaktiviert. Wenden Sie sich an Ihren Administrator.
engine-refusal-another-account-title = Ein anderes Konto
engine-refusal-another-account = Diese Anmeldung gilt für ein anderes Konto. Gehen Sie zurück und beginnen Sie erneut.
engine-refusal-confirm-again-title = Bestätigen Sie erneut, dass Sie es sind
engine-refusal-confirm-again = Seit Ihrer Bestätigung ist zu viel Zeit vergangen. Kehren Sie zu Ihrem Konto zurück und beginnen Sie erneut.
engine-refusal-links-throttled-title = Zu viele Anmeldelinks
engine-refusal-links-throttled = Aus Ihrem Netzwerk wurden zu viele Links (zum Anmelden oder zum Zurücksetzen eines Passworts) angefordert. Warten Sie eine Weile oder melden Sie sich auf andere Weise an.
engine-refusal-link-invalid-title = Dieser Link funktioniert nicht
engine-refusal-link-invalid = Dieser Link ist ungültig. Kehren Sie zur Anwendung zurück und fordern Sie einen neuen an.
engine-refusal-link-used-title = Dieser Link wurde bereits verwendet
engine-refusal-link-used = Jeder Link, den wir per E-Mail senden, funktioniert einmal, und ein neuerer Link ersetzt ältere. Kehren Sie zur Anwendung zurück und fordern Sie bei Bedarf einen neuen an.
engine-refusal-link-expired-title = Dieser Link ist abgelaufen
engine-refusal-link-expired = Die Links, die wir per E-Mail senden, funktionieren nur wenige Minuten. Kehren Sie zur Anwendung zurück und fordern Sie einen neuen an.
engine-refusal-link-other-browser-title = Öffnen Sie den Link in dem Browser, in dem Sie ihn angefordert haben
engine-refusal-link-other-browser = Zu Ihrer Sicherheit funktioniert ein Link, den wir per E-Mail senden, nur in dem Browser, in dem Sie ihn angefordert haben. Öffnen Sie ihn dort (kopieren Sie bei Bedarf die Adresse aus der E-Mail).

## Wie die Seiten und die SMS eine Anmeldung zum Kontobereich nennen (für eine Anwendung: ihr
## Name). Steht in „Bei … anmelden“ und „Ihr Einmalpasswort für … lautet“.

engine-purpose-account = { $org } (Ihr Konto)
engine-purpose-reset = { $org } (Passwort zurücksetzen)
