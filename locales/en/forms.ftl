### What the account area's forms answer (a notice, or what is wrong), and the password
### policy's refusals (the account, password reset and registration pages).
### Plain text: no markup.

## account (the account page)

# Shown after a change: the notice at the top of the page.
forms-account-notice-mobile-number-saved = Your mobile number was saved.
forms-account-notice-backup-codes-removed = Your backup codes were removed.
forms-account-notice-credential-added = Your authenticator app was added.
forms-account-notice-credential-removed = The authenticator app or passkey was removed.
forms-account-notice-key-added = Your passkey was added.
forms-account-notice-sessions-ended = Those sessions are signed out.
forms-account-notice-password-changed = Your password was changed, and every other browser was signed out.
forms-account-notice-application-access-removed = The application no longer has access to your account.

forms-account-backup-need-phone = Add a mobile number first: backup codes stand in for the codes sent to it.
forms-account-backup-choose = Choose what to do with your backup codes.
forms-account-phone-by-admin = Your administrator adds mobile numbers: ask them to add yours.
# $reason: why, a sentence ("Codes can only be sent to mobile numbers.").
forms-account-phone-unusable = That mobile number cannot be used. { $reason }

# The recent changes, listed as "3 hours ago: password changed (detail)".
forms-account-change-backup-codes-generated = backup codes generated
forms-account-change-backup-codes-removed = backup codes removed
forms-account-change-mobile-number-changed = mobile number changed
forms-account-change-credential-added = credential added
forms-account-change-credential-removed = credential removed
forms-account-change-sessions-ended = sessions ended
forms-account-change-application-access-removed = application access removed
forms-account-change-password-changed = password changed
forms-account-change-password-reset = password reset
forms-account-change-registered = registered

## credentials (authenticator apps)

forms-credentials-app-by-admin = You cannot add an authenticator app yourself here: ask your administrator (with a mobile number or backup codes, you can).
forms-credentials-names-too-long = Your organization's name or your username is too long for an authenticator app: ask your administrator.
forms-credentials-code-wrong = That code is not right. Enter the code your app shows now.
forms-credentials-setup-expired = This setup has expired: start again.
forms-credentials-not-yours = That authenticator app or passkey is not one of yours.
forms-credentials-choose = Choose what to do with your authenticator apps.

## passkeys

forms-passkeys-key-by-admin = You cannot add a passkey yourself here: ask your administrator (with a mobile number, an authenticator app or backup codes, you can).
# The name a new passkey is offered; $n: how many the user will have with it.
forms-passkeys-default-name = Passkey { $n }
# $max: the longest name (64).
forms-passkeys-name-length = Give the passkey a name of 1 to { $max } characters.
forms-passkeys-setup-expired = This passkey setup has expired or was used: try again.
forms-passkeys-taken = That passkey is registered already.
forms-passkeys-not-accepted = Your device's answer was not accepted: try again.
forms-passkeys-choose = Choose what to do with your passkeys.

## password (changing the password)

forms-password-none = Your account signs in without a password.
forms-password-confirm-first = To change your password, first confirm it is you with your current password (sign in again with it), then change it.
forms-password-twice = Type your new password twice.
forms-password-differ = The two passwords differ: type the same new password twice.

## sessions (where the user is signed in, applications with access)

# A browser as the list of sessions names it; $browser: "Firefox", $os: "Linux" (product names, not translated).
forms-sessions-browser-on = { $browser } on { $os }
forms-sessions-browser-any-on = A browser on { $os }
forms-sessions-browser-unknown = Unknown browser
forms-sessions-this-browser = This is the browser you are using: sign out of it from the application.
forms-sessions-not-yours = That session has ended already, or is not one of yours.
forms-sessions-app-no-access = That application has no access to your account.

## policy (a new password refused; account, reset and registration pages)

# $min: the fewest characters (8 to 64).
forms-policy-too-short = Your new password needs at least { $min ->
        [one] 1 character
       *[other] { $min } characters
    }.
# $max: the most characters (128).
forms-policy-too-long = Your new password can have at most { $max } characters.
forms-policy-repeated = Your new password cannot be one character repeated.
forms-policy-names = Your new password cannot contain your username, your email address or the organization's name.
forms-policy-common = That password is one of the most commonly used ones, which attackers try first: choose another.
