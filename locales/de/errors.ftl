# errors: the error pages of the browser-facing endpoints (authorization, sign-out, sign-in
# with another provider) and the errors of the registration and password reset forms.

## authorize: a sign-in request that cannot be sent back to its application.

errors-authorize-unusable-title = Diese Anmeldeanfrage kann nicht verwendet werden
errors-authorize-no-client-id = Die Anfrage enthält keine client_id.
# $client: the client_id the request gave.
errors-authorize-unknown-client = Hier ist keine Anwendung mit der client_id „{ $client }“ registriert.
errors-authorize-no-redirect-uri = Die Anfrage enthält keine redirect_uri.
errors-authorize-redirect-unregistered = Die redirect_uri ist für die Anwendung „{ $client }“ nicht registriert. Sie muss genau mit einer registrierten URI übereinstimmen.
# $name: the parameter's name (client_id or redirect_uri).
errors-authorize-repeated = Der Parameter { $name } kommt mehr als einmal vor.
errors-authorize-invalid-redirect-title = Ungültige Weiterleitung
errors-authorize-invalid-redirect = Die Weiterleitungs-URI ist ungültig.

## params: the parameters of an authorization or sign-out request.

errors-params-invalid-title = Ungültige Anfrage
errors-params-invalid = Die Parameter der Anfrage konnten nicht gelesen werden: Sie müssen URL-kodiert sein, dürfen jeweils höchstens einmal vorkommen und keine Steuerzeichen wie Zeilenumbrüche enthalten.

## logout

errors-logout-unusable-title = Diese Abmeldeanfrage kann nicht verwendet werden
errors-logout-hint-invalid = Der id_token_hint ist kein ID-Token dieses Ausstellers.
errors-logout-client-mismatch = Die client_id passt nicht zum id_token_hint.
errors-logout-unknown-app = Die in dieser Abmeldeanfrage genannte Anwendung ist hier nicht registriert.
errors-logout-redirect-unregistered = Die post_logout_redirect_uri ist für die Anwendung nicht registriert (oder weder ein gültiger id_token_hint noch eine client_id nennt die Anwendung).
errors-logout-unreadable-title = Ungültige Abmeldeanfrage
errors-logout-unreadable = Die Anfrage konnte nicht gelesen werden.
errors-logout-done-title = Abgemeldet
errors-logout-done = Sie sind abgemeldet. Sie können dieses Fenster schließen.

## federation: signing in with another provider. $provider: its name ("Corp Directory").

errors-federation-unreachable-title = { $provider } ist nicht erreichbar
errors-federation-unreachable = Wir konnten { $provider } nicht erreichen, um Sie anzumelden. Versuchen Sie es gleich noch einmal, oder gehen Sie zurück und melden Sie sich auf andere Weise an.
errors-federation-no-profile-title = { $provider } hat Ihr Profil nicht gesendet
errors-federation-no-profile = { $provider } hat Sie angemeldet, aber Ihr Profil (Name, E-Mail-Adresse) nicht gesendet, daher wurde noch kein Konto für Sie erstellt. Versuchen Sie es gleich noch einmal; wenn das weiterhin passiert, wenden Sie sich an Ihren Administrator.
errors-federation-unverified-title = Die Antwort von { $provider } konnte nicht überprüft werden
errors-federation-unverified = Die Antwort von { $provider } konnte nicht überprüft werden, daher wurden Sie nicht angemeldet. Kehren Sie zur Anwendung zurück und versuchen Sie es erneut; wenn das weiterhin passiert, wenden Sie sich an Ihren Administrator.
errors-federation-cancelled-title = Anmeldung abgebrochen
errors-federation-cancelled = { $provider } hat Sie nicht angemeldet (die Anmeldung wurde abgebrochen oder abgelehnt). Kehren Sie zur Anwendung zurück, um es erneut zu versuchen, oder melden Sie sich auf andere Weise an.
errors-federation-refused-title = { $provider } konnte Sie nicht anmelden
# $code: the OAuth error code the provider answered with ("server_error").
errors-federation-refused = { $provider } hat mit dem Fehler „{ $code }“ geantwortet. Kehren Sie zur Anwendung zurück und versuchen Sie es erneut, oder melden Sie sich auf andere Weise an.
errors-federation-no-account-title = Kein Konto vorhanden
# $org: the organization's name.
errors-federation-no-account = Ihr Konto bei { $provider } ist mit keinem Konto von { $org } verknüpft. Bitten Sie Ihren Administrator um Zugang, oder melden Sie sich auf andere Weise an.
errors-federation-spent-title = Diese Anmeldeantwort ist abgelaufen
errors-federation-spent = Diese Antwort des Anmeldeanbieters wurde bereits verwendet, ist abgelaufen oder gehört nicht zu dieser Anmeldung. Kehren Sie zur Anwendung zurück und beginnen Sie erneut.
errors-federation-incomplete-title = Diese Anmeldeantwort ist unvollständig
errors-federation-incomplete = In der Antwort des Anmeldeanbieters fehlt der state-Parameter. Kehren Sie zur Anwendung zurück und beginnen Sie erneut.

## register

errors-register-not-offered-title = Registrierung nicht verfügbar
errors-register-not-offered = Sie können hier nicht selbst ein Konto erstellen. Bitten Sie Ihren Administrator darum.
# $max: the longest username (64).
errors-register-username-invalid = Wählen Sie einen Benutzernamen aus 1 bis { $max } Buchstaben, Ziffern, Punkten, Bindestrichen und Unterstrichen (keine Leerzeichen, kein @).
errors-register-username-reserved = Namen, die so beginnen, sind Konten von anderen Anmeldeanbietern vorbehalten: Wählen Sie einen anderen Benutzernamen.
errors-register-email-not-ascii = Geben Sie eine Adresse aus einfachen ASCII-Buchstaben ein (die ASCII-Form der Adresse, die Ihr Anbieter nennt).
errors-register-email-invalid = Geben Sie eine gültige E-Mail-Adresse ein.
errors-register-password-missing = Geben Sie Ihr Passwort zweimal ein.
errors-register-password-mismatch = Die beiden Passwörter unterscheiden sich: Geben Sie zweimal dasselbe Passwort ein.
errors-register-throttled-title = Zu viele Registrierungen
errors-register-throttled = Aus Ihrem Netzwerk kamen zu viele Registrierungen. Versuchen Sie es später erneut.
errors-register-username-taken = Der Benutzername { $username } ist bereits vergeben: Wählen Sie einen anderen. Wenn es Ihrer ist, gehen Sie zurück und melden Sie sich an.
errors-register-username-taken-meanwhile-title = Dieser Benutzername wurde inzwischen vergeben
errors-register-username-taken-meanwhile = Jemand hat denselben Benutzernamen registriert, bevor Sie den Link geöffnet haben. Kehren Sie zur Anwendung zurück und registrieren Sie sich erneut mit einem anderen.
errors-register-address-has-account-title = Für diese Adresse gibt es bereits ein Konto
errors-register-address-has-account = Ein Konto mit dieser E-Mail-Adresse wurde erstellt, bevor Sie den Link geöffnet haben. Melden Sie sich damit an, oder wählen Sie auf der Anmeldeseite „Passwort vergessen?“.

## reset: a password reset.

errors-reset-not-offered-title = Zurücksetzen des Passworts nicht verfügbar
errors-reset-not-offered = Diese Organisation setzt Passwörter nicht per E-Mail zurück. Wenden Sie sich an Ihren Administrator.
errors-reset-password-missing = Geben Sie Ihr neues Passwort zweimal ein.
errors-reset-password-mismatch = Die beiden Passwörter unterscheiden sich: Geben Sie zweimal dasselbe neue Passwort ein.
