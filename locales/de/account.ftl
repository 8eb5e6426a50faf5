### Der Kontobereich: die Kontoseite, neue Backup-Codes, eine Authenticator-App oder einen Passkey einrichten.
### Zeiten ({ $when }, { $added }, { $used }, { $started }, { $since }) sind relative Angaben:
### „in 5 Minuten“, „vor 3 Stunden“ (time-in-*, time-ago-* in common.ftl).

## account (die Kontoseite)

account-home-title = Ihr Konto · { $org }
account-home-heading = Ihr Konto
account-home-signed-in-as = { $org } · angemeldet als <strong>{ $username }</strong>
# $when: „in 5 Minuten“.
account-home-fresh = Sie haben bestätigt, dass Sie es sind: Sie können Änderungen vornehmen. Diese Bestätigung läuft { $when } ab.
account-home-verify = Bevor Sie etwas ändern können, <a href="{ $url }">bestätigen Sie bitte, dass Sie es sind</a> (melden Sie sich erneut an, dann mit Ihrem zweiten Faktor).

account-home-password-heading = Passwort
account-home-password-new = Neues Passwort
account-home-password-hint =
    Mindestens { $min ->
        [one] 1 Zeichen
       *[other] { $min } Zeichen
    }. Alle Zeichen sind erlaubt; ein paar Wörter sind leicht zu merken und schwer zu erraten. Kein gängiges Passwort und keines, das Ihren Benutzernamen, Ihre E-Mail-Adresse oder den Namen der Organisation enthält.
account-home-password-again = Neues Passwort wiederholen
account-home-password-submit = Mein Passwort ändern
account-home-password-signs-out = Alle anderen Browser, die bei Ihrem Konto angemeldet sind, werden abgemeldet.
account-home-password-signs-out-email = Alle anderen Browser, die bei Ihrem Konto angemeldet sind, werden abgemeldet, und Sie erhalten darüber eine E-Mail.

account-home-phone-heading = Mobilnummer
# $last4: die letzten vier Ziffern der Nummer.
account-home-phone-current = SMS werden an die Nummer mit der Endung <strong>{ $last4 }</strong> gesendet.
account-home-phone-none = Sie haben keine bestätigte Mobilnummer.
account-home-phone-new = Neue Mobilnummer (internationales Format, z. B. +44 7400 900123)
account-home-phone-submit = Einen Code an diese Nummer senden

account-home-backup-heading = Backup-Codes
account-home-backup-left =
    { $n ->
        [one] Sie haben <strong>{ $n }</strong> unbenutzten Backup-Code.
       *[other] Sie haben <strong>{ $n }</strong> unbenutzte Backup-Codes.
    }
account-home-backup-generate = Neue Backup-Codes erzeugen
account-home-backup-need-phone = Fügen Sie zuerst eine Mobilnummer hinzu: Backup-Codes ersetzen die Codes, die an diese Nummer gesendet werden.
account-home-backup-remove = Meine Backup-Codes entfernen

account-home-apps-heading = Authenticator-Apps
# Eine Authenticator-App oder ein Passkey; $added und $used: „vor 3 Tagen“.
account-home-credential = { $name }, hinzugefügt { $added }
account-home-credential-used = { $name }, hinzugefügt { $added }, zuletzt verwendet { $used }
account-home-remove = Entfernen
account-home-apps-none = Sie haben keine Authenticator-App eingerichtet.
# $label: „Authenticator-App“ (auf Englisch „authenticator app“).
account-home-app-set-up = { $label } einrichten
account-home-app-set-up-another = Eine weitere { $label } einrichten

account-home-keys-heading = Passkeys
account-home-keys-none = Sie haben keinen Passkey.
# $label: „Passkey“.
account-home-key-add = { $label } hinzufügen

account-home-sessions-heading = Wo Sie angemeldet sind
# $browser: „Firefox on Linux“; $started und $used: „vor 3 Stunden“.
account-home-session = { $browser }, angemeldet { $started }, zuletzt verwendet { $used }
account-home-session-ip = { $browser } von { $ip }, angemeldet { $started }, zuletzt verwendet { $used }
account-home-session-this = (dieser Browser)
account-home-session-sign-out-label = { $browser } abmelden, angemeldet { $started }
account-home-session-sign-out = Abmelden
account-home-sessions-end-others = Überall sonst abmelden
account-home-sessions-hint = Wenn Sie einen Browser abmelden, verliert er alles, was er erhalten hat, außer dem Offline-Zugriff einer Anwendung (der ohne Sie weiter funktioniert): Entziehen Sie dieser Anwendung dafür unten den Zugriff.

account-home-clients-heading = Anwendungen mit Zugriff
# $scopes: „openid email“; $since: „vor 3 Tagen“.
account-home-client = { $name }, Zugriff erteilt { $since }
account-home-client-scopes = { $name } ({ $scopes }), Zugriff erteilt { $since }
account-home-client-remove-label = Zugriff für { $name } entziehen
account-home-client-remove = Zugriff entziehen
account-home-clients-none = Keine Anwendung hat Zugriff auf Ihr Konto.

account-home-changes-heading = Letzte Änderungen

## backup-codes (die neuen Backup-Codes, einmal angezeigt)

account-backup-codes-title = Ihre Backup-Codes · { $org }
account-backup-codes-heading = Ihre neuen Backup-Codes
account-backup-codes-notice = Speichern Sie diese Codes jetzt: Sie werden nur dieses eine Mal angezeigt. Jeder Code funktioniert einmal, anstelle eines per SMS gesendeten Codes. Ihre bisherigen Codes funktionieren nicht mehr.
account-backup-codes-back = Zurück zu Ihrem Konto

## credential-setup (eine Authenticator-App einrichten; $label: „Authenticator-App“)

account-credential-setup-title = Ihre { $label } einrichten · { $org }
account-credential-setup-heading = Ihre { $label } einrichten
account-credential-setup-scan = Scannen Sie diesen QR-Code mit Ihrer { $label } (Google Authenticator, Microsoft Authenticator, 1Password, Aegis, …).
account-credential-setup-manual = Scannen nicht möglich? Geben Sie stattdessen diesen Schlüssel in der App ein (zeitbasiert):
account-credential-setup-secret-note = Dieser Schlüssel wird nur angezeigt, während Sie die App einrichten. Niemand von { $org } wird Sie danach fragen.
# $length: die Anzahl der Ziffern (6).
account-credential-setup-code = Geben Sie dann den { $length }-stelligen Code ein, den die App anzeigt
account-credential-setup-submit = Speichern
account-credential-setup-cancel = Abbrechen

## passkey-setup (einen Passkey hinzufügen; $label: „Passkey“)

account-passkey-setup-title = { $label } hinzufügen · { $org }
account-passkey-setup-heading = { $label } hinzufügen
account-passkey-setup-intro = Ihr Gerät (dieses Telefon oder dieser Computer oder ein Sicherheitsschlüssel) erstellt einen { $label } für Ihr Konto bei { $org } und schützt ihn mit Ihrem Fingerabdruck, Ihrem Gesicht, einer PIN oder seiner Bildschirmsperre. Danach können Sie sich damit statt mit einem Code anmelden.
account-passkey-setup-name = Ein Name, um ihn zu unterscheiden
account-passkey-setup-name-title = Ein Name aus mindestens einem Buchstaben, einer Ziffer oder einem Zeichen
account-passkey-setup-noscript = Zum Hinzufügen eines Passkeys wird JavaScript benötigt.
account-passkey-setup-create = { $label } erstellen
account-passkey-setup-cancel = Abbrechen
