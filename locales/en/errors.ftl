# errors: the error pages of the browser-facing endpoints (authorization, sign-out, sign-in
# with another provider) and the errors of the registration and password reset forms.

## authorize: a sign-in request that cannot be sent back to its application.

errors-authorize-unusable-title = This sign-in request cannot be used
errors-authorize-no-client-id = The request has no client_id.
# $client: the client_id the request gave.
errors-authorize-unknown-client = No application with client_id '{ $client }' is registered here.
errors-authorize-no-redirect-uri = The request has no redirect_uri.
errors-authorize-redirect-unregistered = The redirect_uri is not registered for application '{ $client }'. It must match a registered URI exactly.
# $name: the parameter's name (client_id or redirect_uri).
errors-authorize-repeated = The parameter { $name } appears more than once.
errors-authorize-invalid-redirect-title = Invalid redirect
errors-authorize-invalid-redirect = The redirect URI is not valid.

## params: the parameters of an authorization or sign-out request.

errors-params-invalid-title = Invalid request
errors-params-invalid = The request's parameters could not be read: they must be URL-encoded, each once at most, and hold no control characters such as line breaks.

## logout

errors-logout-unusable-title = This sign-out request cannot be used
errors-logout-hint-invalid = The id_token_hint is not an ID token from this issuer.
errors-logout-client-mismatch = client_id does not match the id_token_hint.
errors-logout-unknown-app = The application named in this sign-out request is not registered here.
errors-logout-redirect-unregistered = The post_logout_redirect_uri is not registered for the application (or no valid id_token_hint or client_id names it).
errors-logout-unreadable-title = Invalid sign-out request
errors-logout-unreadable = The request could not be read.
errors-logout-done-title = Signed out
errors-logout-done = You are signed out. You can close this window.

## federation: signing in with another provider. $provider: its name ("Corp Directory").

errors-federation-unreachable-title = { $provider } cannot be reached
errors-federation-unreachable = We could not reach { $provider } to sign you in. Try again in a moment, or go back and sign in another way.
errors-federation-no-profile-title = { $provider } did not send your profile
errors-federation-no-profile = { $provider } signed you in but did not send your profile (name, email), so no account was made for you yet. Try again in a moment; if it keeps happening, tell your administrator.
errors-federation-unverified-title = { $provider } could not be verified
errors-federation-unverified = The answer from { $provider } could not be verified, so you were not signed in. Go back to the application and try again; if it keeps happening, tell your administrator.
errors-federation-cancelled-title = Sign-in cancelled
errors-federation-cancelled = { $provider } did not sign you in (the sign-in was cancelled or refused). Go back to the application to try again, or sign in another way.
errors-federation-refused-title = { $provider } could not sign you in
# $code: the OAuth error code the provider answered with ("server_error").
errors-federation-refused = { $provider } answered with the error "{ $code }". Go back to the application and try again, or sign in another way.
errors-federation-no-account-title = No account here
# $org: the organization's name.
errors-federation-no-account = Your { $provider } account is not linked to an account of { $org }. Ask your administrator for access, or sign in another way.
errors-federation-spent-title = This sign-in answer has expired
errors-federation-spent = This answer from the sign-in provider was already used, has expired, or is not for this sign-in. Go back to the application and start again.
errors-federation-incomplete-title = This sign-in answer is incomplete
errors-federation-incomplete = The answer from the sign-in provider is missing its state. Go back to the application and start again.

## register

errors-register-not-offered-title = Registration is not available
errors-register-not-offered = You cannot create an account here yourself. Ask your administrator for one.
# $max: the longest username (64).
errors-register-username-invalid = Choose a username of 1-{ $max } letters, digits, dots, hyphens and underscores (no spaces, no @).
errors-register-username-reserved = Names that start like this are kept for accounts from other sign-in providers: choose another username.
errors-register-email-not-ascii = Type an address of plain ASCII letters (your provider's ASCII form of it).
errors-register-email-invalid = Type a valid email address.
errors-register-password-missing = Type your password twice.
errors-register-password-mismatch = The two passwords differ: type the same password twice.
errors-register-throttled-title = Too many registrations
errors-register-throttled = Too many registrations came from your network. Try again later.
errors-register-username-taken = The username { $username } is taken: choose another. If it is yours, go back and sign in.
errors-register-username-taken-meanwhile-title = That username was taken meanwhile
errors-register-username-taken-meanwhile = Someone registered the same username before you opened the link. Go back to the application and register again with another one.
errors-register-address-has-account-title = This address already has an account
errors-register-address-has-account = An account with this email address was created before you opened the link. Sign in with it, or choose "Forgot your password?" on the sign-in page.

## reset: a password reset.

errors-reset-not-offered-title = Password reset is not available
errors-reset-not-offered = This organization does not reset passwords by email. Ask your administrator.
errors-reset-password-missing = Type your new password twice.
errors-reset-password-mismatch = The two passwords differ: type the same new password twice.
