# steps: die Seiten des zweiten Schritts (SMS, per E-Mail gesendete und App-Codes, Backup-Codes, Passkeys).

## shared by the code pages

steps-shared-continue = Weiter
steps-shared-code-label = Code
steps-shared-send-new-code = Neuen Code senden
# { $when } ist eine Zeit ab jetzt: „in 30 Sekunden“.
steps-shared-resend-wait = Sie können { $when } einen neuen Code anfordern.

## otp (the code sent by text message)

steps-otp-title = Code eingeben
steps-otp-enroll-sent = Wir haben einen Einmalcode per SMS an <strong>{ $phone }</strong> gesendet. Geben Sie ihn ein, um diese Nummer als Ihre zu speichern und fortzufahren.
steps-otp-enroll-intro = { $app } verlangt einen per SMS gesendeten Code. Fügen Sie Ihre Mobilnummer hinzu: Wir senden einen Code an diese Nummer, und sobald Sie den Code eingeben, wird sie als Ihre gespeichert.
steps-otp-number-another-label = Andere Mobilnummer (internationales Format, z. B. +44 7400 900123)
steps-otp-number-label = Mobilnummer (internationales Format, z. B. +44 7400 900123)
steps-otp-send-to-number = Code an diese Nummer senden
steps-otp-use-app-instead = Stattdessen Ihre Authenticator-App verwenden
steps-otp-no-phone = Ihr Konto hat keine bestätigte Mobilnummer, daher können wir Ihnen keinen Code senden.
steps-otp-no-phone-app = Sie können stattdessen <a href="{ $url }">Ihre Authenticator-App verwenden</a>.
steps-otp-no-phone-backup = Sie können stattdessen <a href="{ $url }">einen Backup-Code verwenden</a>.
steps-otp-no-phone-admin = Bitten Sie Ihren Administrator, Ihre Mobilnummer hinzuzufügen.
steps-otp-undelivered = <strong>Die SMS an { $phone } konnte nicht zugestellt werden.</strong>
steps-otp-undelivered-other-ways = Versuchen Sie es auf einem anderen Weg (unten) oder fordern Sie einen neuen Code an.
steps-otp-undelivered-resend = Sie können einen neuen Code anfordern.
steps-otp-sent = Wir haben einen Einmalcode per SMS an Ihre Mobilnummer <strong>{ $phone }</strong> gesendet.
steps-otp-not-sent = Codes werden per SMS an Ihre Mobilnummer <strong>{ $phone }</strong> gesendet; bisher konnte keiner gesendet werden.
steps-otp-code-label = Einmalcode

## otp-delivery (the code page's frame: what became of the text message)

steps-otp-delivery-title = Zustellung der SMS
steps-otp-delivery-failed = Die SMS konnte nicht zugestellt werden. <a href="{ $url }" target="_top">Anderen Weg versuchen</a>
steps-otp-delivery-delivered = Ihr Telefon hat die SMS empfangen.
steps-otp-delivery-waiting = Warten auf den Zustellbericht der SMS…
steps-otp-delivery-no-report = Noch kein Zustellbericht für die SMS.

## sent-code (a code sent by email); { $label } is the factor's name, e.g. "email code"

steps-sent-title = Code eingeben ({ $label })
steps-sent-no-email = Ihr Konto hat keine bestätigte E-Mail-Adresse, daher können wir Ihnen keinen Code senden.
steps-sent-sent = Wir haben einen Einmalcode per E-Mail an <strong>{ $destination }</strong> gesendet. Es kann eine Minute dauern, bis er ankommt; sehen Sie auch in Ihrem Spam-Ordner nach.
steps-sent-not-sent = Codes werden per E-Mail an <strong>{ $destination }</strong> gesendet; bisher konnte keiner gesendet werden.
steps-sent-no-more = Bei dieser Anmeldung können keine weiteren neuen Codes gesendet werden.

## code (a code from an app); { $label } is the factor's name, e.g. "authenticator app"

steps-code-setup-title = { $label } einrichten
steps-code-title = Code eingeben ({ $label })
steps-code-setup-intro = { $app } verlangt bei der Anmeldung einen zweiten Schritt. Scannen Sie diesen QR-Code mit Ihrer { $label } (z. B. Google Authenticator, Microsoft Authenticator, 1Password, Aegis, …) und geben Sie dann den angezeigten Code ein.
steps-code-setup-no-scan = Scannen nicht möglich? Geben Sie stattdessen diesen Schlüssel in der App ein (zeitbasiert):
steps-code-setup-code-label = Der { $length }-stellige Code, den die App anzeigt
steps-code-setup-submit = Speichern und fortfahren
steps-code-intro = Öffnen Sie Ihre { $label } und geben Sie den Code ein, den sie für { $org } anzeigt.

## backup-code

steps-backup-title = Backup-Code verwenden
steps-backup-intro = Geben Sie einen der Backup-Codes ein, die Sie gespeichert haben. Jeder Code funktioniert nur einmal.
steps-backup-code-label = Backup-Code

## passkey; { $label } is the factor's name, e.g. "passkey"

steps-passkey-create-title = { $label } erstellen
steps-passkey-create-intro = { $app } verlangt bei der Anmeldung einen zweiten Schritt. Ihr Gerät (dieses Telefon, dieser Computer oder ein Sicherheitsschlüssel) erstellt einen { $label } für Ihr Konto bei { $org } und schützt ihn mit Ihrem Fingerabdruck, Ihrem Gesicht, einer PIN oder der Bildschirmsperre des Geräts; Sie verwenden ihn ab jetzt.
steps-passkey-name-label = Ein Name zur Unterscheidung
# Der Name, den ein neuer Passkey erhält, wenn der Benutzer keinen anderen eingibt.
steps-passkey-name-default = Passkey
steps-passkey-name-title = Ein Name aus mindestens einem Buchstaben, einer Ziffer oder einem Zeichen
steps-passkey-create-noscript = Zum Erstellen eines Passkeys wird JavaScript benötigt: Aktivieren Sie es oder wählen Sie einen anderen Weg.
steps-passkey-create-submit = { $label } erstellen und fortfahren
steps-passkey-use-title = { $label } verwenden
steps-passkey-use-intro = Verwenden Sie den { $label }, den Sie diesem Konto hinzugefügt haben: Ihr Gerät fragt nach Ihrem Fingerabdruck, Ihrem Gesicht, einer PIN oder seiner Bildschirmsperre.
steps-passkey-use-noscript = Passkeys benötigen JavaScript: Aktivieren Sie es oder wählen Sie einen anderen Weg.
steps-passkey-use-submit = Meinen { $label } verwenden

## passkey-script (what the passkey button's script says)

steps-passkey-script-unsupported = Dieser Browser unterstützt keine Passkeys. Wählen Sie einen anderen Weg.
steps-passkey-script-exists = Auf diesem Gerät gibt es bereits einen Passkey für Ihr Konto.
steps-passkey-script-failed = Es wurde kein Passkey verwendet: Die Anfrage wurde abgebrochen, ist abgelaufen oder wurde abgelehnt. Versuchen Sie es erneut oder wählen Sie einen anderen Weg.

## Die mitgelieferten Faktoren, wie die Seiten sie nennen.

factor-totp-label = Authenticator-App
factor-passkey-label = Passkey
factor-email-otp-label = E-Mail-Code
factor-email-otp-offer = Stattdessen einen Code per E-Mail senden
