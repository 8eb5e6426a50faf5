### Was die Formulare des Kontobereichs antworten (ein Hinweis oder was nicht stimmt), und warum
### die Passwortrichtlinie ein Passwort ablehnt (Konto, Zurücksetzen des Passworts, Registrierung).
### Reiner Text: kein Markup.

## account (die Kontoseite)

# Nach einer Änderung: der Hinweis oben auf der Seite.
forms-account-notice-mobile-number-saved = Ihre Mobilnummer wurde gespeichert.
forms-account-notice-backup-codes-removed = Ihre Backup-Codes wurden entfernt.
forms-account-notice-credential-added = Ihre Authenticator-App wurde hinzugefügt.
forms-account-notice-credential-removed = Die Authenticator-App bzw. der Passkey wurde entfernt.
forms-account-notice-key-added = Ihr Passkey wurde hinzugefügt.
forms-account-notice-sessions-ended = Diese Sitzungen wurden abgemeldet.
forms-account-notice-password-changed = Ihr Passwort wurde geändert, und alle anderen Browser wurden abgemeldet.
forms-account-notice-application-access-removed = Die Anwendung hat keinen Zugriff mehr auf Ihr Konto.

forms-account-backup-need-phone = Fügen Sie zuerst eine Mobilnummer hinzu: Backup-Codes ersetzen die Codes, die an diese Nummer gesendet werden.
forms-account-backup-choose = Wählen Sie aus, was mit Ihren Backup-Codes geschehen soll.
forms-account-phone-by-admin = Mobilnummern werden von Ihrem Administrator hinzugefügt: Bitten Sie ihn, Ihre hinzuzufügen.
# $reason: der Grund, ein Satz („Codes können nur an Mobilnummern gesendet werden.“).
forms-account-phone-unusable = Diese Mobilnummer kann nicht verwendet werden. { $reason }

# Die letzten Änderungen, aufgeführt als „vor 3 Stunden: Passwort geändert (Detail)“.
forms-account-change-backup-codes-generated = Backup-Codes erzeugt
forms-account-change-backup-codes-removed = Backup-Codes entfernt
forms-account-change-mobile-number-changed = Mobilnummer geändert
forms-account-change-credential-added = Anmeldemethode hinzugefügt
forms-account-change-credential-removed = Anmeldemethode entfernt
forms-account-change-sessions-ended = Sitzungen beendet
forms-account-change-application-access-removed = Zugriff einer Anwendung entzogen
forms-account-change-password-changed = Passwort geändert
forms-account-change-password-reset = Passwort zurückgesetzt
forms-account-change-registered = Konto registriert

## credentials (Authenticator-Apps)

forms-credentials-app-by-admin = Sie können hier nicht selbst eine Authenticator-App hinzufügen: Wenden Sie sich an Ihren Administrator (mit einer Mobilnummer oder Backup-Codes können Sie es selbst).
forms-credentials-names-too-long = Der Name Ihrer Organisation oder Ihr Benutzername ist für eine Authenticator-App zu lang: Wenden Sie sich an Ihren Administrator.
forms-credentials-code-wrong = Dieser Code ist nicht richtig. Geben Sie den Code ein, den Ihre App gerade anzeigt.
forms-credentials-setup-expired = Diese Einrichtung ist abgelaufen: Beginnen Sie erneut.
forms-credentials-not-yours = Diese Authenticator-App bzw. dieser Passkey gehört nicht zu Ihrem Konto.
forms-credentials-choose = Wählen Sie aus, was mit Ihren Authenticator-Apps geschehen soll.

## passkeys

forms-passkeys-key-by-admin = Sie können hier nicht selbst einen Passkey hinzufügen: Wenden Sie sich an Ihren Administrator (mit einer Mobilnummer, einer Authenticator-App oder Backup-Codes können Sie es selbst).
# Der vorgeschlagene Name eines neuen Passkeys; $n: wie viele der Benutzer damit hat.
forms-passkeys-default-name = Passkey { $n }
# $max: der längste Name (64).
forms-passkeys-name-length = Geben Sie dem Passkey einen Namen mit 1 bis { $max } Zeichen.
forms-passkeys-setup-expired = Diese Passkey-Einrichtung ist abgelaufen oder wurde bereits verwendet: Versuchen Sie es erneut.
forms-passkeys-taken = Dieser Passkey ist bereits registriert.
forms-passkeys-not-accepted = Die Antwort Ihres Geräts wurde nicht akzeptiert: Versuchen Sie es erneut.
forms-passkeys-choose = Wählen Sie aus, was mit Ihren Passkeys geschehen soll.

## password (das Passwort ändern)

forms-password-none = Sie melden sich bei Ihrem Konto ohne Passwort an.
forms-password-confirm-first = Um Ihr Passwort zu ändern, bestätigen Sie zuerst mit Ihrem aktuellen Passwort, dass Sie es sind (melden Sie sich damit erneut an), und ändern Sie es dann.
forms-password-twice = Geben Sie Ihr neues Passwort zweimal ein.
forms-password-differ = Die beiden Passwörter stimmen nicht überein: Geben Sie zweimal dasselbe neue Passwort ein.

## sessions (wo der Benutzer angemeldet ist, Anwendungen mit Zugriff)

# Ein Browser, wie ihn die Liste der Sitzungen nennt; $browser: „Firefox“, $os: „Linux“ (Produktnamen, nicht übersetzt).
forms-sessions-browser-on = { $browser } unter { $os }
forms-sessions-browser-any-on = Ein Browser unter { $os }
forms-sessions-browser-unknown = Unbekannter Browser
forms-sessions-this-browser = Dies ist der Browser, den Sie gerade verwenden: Melden Sie sich darin über die Anwendung ab.
forms-sessions-not-yours = Diese Sitzung ist bereits beendet oder gehört nicht zu Ihrem Konto.
forms-sessions-app-no-access = Diese Anwendung hat keinen Zugriff auf Ihr Konto.

## policy (ein neues Passwort abgelehnt; Konto, Zurücksetzen, Registrierung)

# $min: die Mindestzahl an Zeichen (8 bis 64).
forms-policy-too-short = Ihr neues Passwort muss mindestens { $min ->
        [one] 1 Zeichen
       *[other] { $min } Zeichen
    } haben.
# $max: die Höchstzahl an Zeichen (128).
forms-policy-too-long = Ihr neues Passwort darf höchstens { $max } Zeichen haben.
forms-policy-repeated = Ihr neues Passwort darf nicht aus einem einzigen wiederholten Zeichen bestehen.
forms-policy-names = Ihr neues Passwort darf weder Ihren Benutzernamen noch Ihre E-Mail-Adresse noch den Namen der Organisation enthalten.
forms-policy-common = Dieses Passwort gehört zu den am häufigsten verwendeten, die Angreifer zuerst ausprobieren: Wählen Sie ein anderes.
