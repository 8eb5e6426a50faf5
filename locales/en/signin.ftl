# The sign-in page, consent, sign-out, the other ways, links sent.

## login

signin-login-page-title = Sign in
signin-login-title = Sign in to { $app }
signin-login-reset-title = Reset your password
signin-login-reset-intro = Type your username or email address: we email a link to the account's verified address. Open it in this browser to choose a new password.
signin-login-username = Username
signin-login-password = Password
signin-login-submit = Sign in
signin-login-forgot = Forgot your password?
signin-login-or = or
signin-login-identifier = Username or email
signin-login-send-link = Email me a sign-in link
signin-login-send-reset-link = Email me a reset link
signin-login-back = Back to sign-in
# $provider: the name of an external identity provider ("Corp Directory").
signin-login-provider = Sign in with { $provider }
# $key: the kind of key, as the engine names it ("passkey").
signin-login-key-needs-js = Signing in with a { $key } needs JavaScript.
signin-login-key-button = Sign in with a { $key }
signin-login-register = New here? <a href="{ $url }">Create an account</a>

## consent

signin-consent-page-title = Allow access
signin-consent-title = Allow { $app }?
# Followed by a list of what the application asks for.
signin-consent-asking = { $app } is asking to:
signin-consent-signed-in-as = Signed in as { $username }.
signin-consent-allow = Allow
signin-consent-deny = Deny

## logout

signin-logout-page-title = Sign out
signin-logout-title = Sign out?
signin-logout-question = Do you want to sign out of { $org }?
signin-logout-question-from-app = Do you want to sign out of { $org } (you came from { $app })?
signin-logout-submit = Sign out

## other-ways

signin-other-ways-title = Try another way
signin-other-ways-app = Use your authenticator app instead
signin-other-ways-sms = Use a code sent by text message instead
signin-other-ways-backup = Use a backup code instead

## form-post

signin-form-post-title = Continuing…
signin-form-post-no-script = JavaScript is off: press the button to continue.
signin-form-post-continue = Continue

## magic-link-sent

signin-magic-link-sent-title = Check your email
signin-magic-link-sent-sign-in = If <strong>{ $identifier }</strong> belongs to an account with a verified email address, we have sent a sign-in link there.
signin-magic-link-sent-validity = The link works for { $minutes ->
        [one] 1 minute
       *[other] { $minutes } minutes
    }, once, and only in this browser. You can close the email's tab after opening it.
signin-magic-link-sent-reset = If <strong>{ $identifier }</strong> belongs to an account with a password and a verified email address, we have sent a link there to choose a new password.
signin-magic-link-sent-reset-validity = The link works for { $minutes ->
        [one] 1 minute
       *[other] { $minutes } minutes
    }, once, and only in this browser.
signin-magic-link-sent-back = Back to sign-in

## What each scope lets an application see (the consent page's list).

signin-scope-openid = Know who you are (an identifier for your account)
signin-scope-profile = See your name and profile details
signin-scope-email = See your email address
signin-scope-phone = See your phone number
signin-scope-address = See your postal address
signin-scope-offline-access = Keep access while you are away (until you revoke it)
signin-scope-api = Use { $api } with the permission “{ $permission }”
signin-scope-other = The permission “{ $permission }”
