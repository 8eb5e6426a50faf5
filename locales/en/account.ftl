### The account area: the account page, new backup codes, setting up an authenticator app or a passkey.
### Times ({ $when }, { $added }, { $used }, { $started }, { $since }) are relative phrases:
### "in 5 minutes", "3 hours ago" (time-in-*, time-ago-* in common.ftl).

## account (the account page)

account-home-title = Your account · { $org }
account-home-heading = Your account
account-home-signed-in-as = { $org } · signed in as <strong>{ $username }</strong>
# $when: "in 5 minutes".
account-home-fresh = You confirmed it is you: you can make changes. This confirmation expires { $when }.
account-home-verify = To change anything, first <a href="{ $url }">confirm it is you</a> (sign in again, then your second factor).

account-home-password-heading = Password
account-home-password-new = New password
account-home-password-hint =
    At least { $min ->
        [one] 1 character
       *[other] { $min } characters
    }. Any characters; a few words are easy to remember and hard to guess. Not a common password, nor one holding your username, your email address or the organization's name.
account-home-password-again = New password, again
account-home-password-submit = Change my password
account-home-password-signs-out = Every other browser signed in to your account is signed out.
account-home-password-signs-out-email = Every other browser signed in to your account is signed out, and an email tells you.

account-home-phone-heading = Mobile number
# $last4: the last four digits of the number.
account-home-phone-current = Text messages go to the number ending in <strong>{ $last4 }</strong>.
account-home-phone-none = You have no verified mobile number.
account-home-phone-new = New mobile number (international format, e.g. +44 7400 900123)
account-home-phone-submit = Send a code to this number

account-home-backup-heading = Backup codes
account-home-backup-left =
    { $n ->
        [one] You have <strong>{ $n }</strong> unused backup code.
       *[other] You have <strong>{ $n }</strong> unused backup codes.
    }
account-home-backup-generate = Generate new backup codes
account-home-backup-need-phone = Add a mobile number first: backup codes stand in for the codes sent to it.
account-home-backup-remove = Remove my backup codes

account-home-apps-heading = Authenticator apps
# An authenticator app or a passkey; $added and $used: "3 days ago".
account-home-credential = { $name }, added { $added }
account-home-credential-used = { $name }, added { $added }, last used { $used }
account-home-remove = Remove
account-home-apps-none = You have no authenticator app set up.
# $label: "authenticator app".
account-home-app-set-up = Set up an { $label }
account-home-app-set-up-another = Set up another { $label }

account-home-keys-heading = Passkeys
account-home-keys-none = You have no passkey.
# $label: "passkey".
account-home-key-add = Add a { $label }

account-home-sessions-heading = Where you are signed in
# $browser: "Firefox on Linux"; $started and $used: "3 hours ago".
account-home-session = { $browser }, signed in { $started }, last used { $used }
account-home-session-ip = { $browser } at { $ip }, signed in { $started }, last used { $used }
account-home-session-this = (this browser)
account-home-session-sign-out-label = Sign out { $browser }, signed in { $started }
account-home-session-sign-out = Sign out
account-home-sessions-end-others = Sign out everywhere else
account-home-sessions-hint = Signing a browser out stops what it was given, except an application's offline access (it keeps working without you): remove that application's access below.

account-home-clients-heading = Applications with access
# $scopes: "openid email"; $since: "3 days ago".
account-home-client = { $name }, granted access { $since }
account-home-client-scopes = { $name } ({ $scopes }), granted access { $since }
account-home-client-remove-label = Remove access for { $name }
account-home-client-remove = Remove access
account-home-clients-none = No application has access to your account.

account-home-changes-heading = Recent changes

## backup-codes (the new backup codes, shown once)

account-backup-codes-title = Your backup codes · { $org }
account-backup-codes-heading = Your new backup codes
account-backup-codes-notice = Save these codes now: they are shown only this once. Each works once, instead of a code sent by text message. Your earlier codes no longer work.
account-backup-codes-back = Back to your account

## credential-setup (setting up an authenticator app; $label: "authenticator app")

account-credential-setup-title = Set up your { $label } · { $org }
account-credential-setup-heading = Set up your { $label }
account-credential-setup-scan = Scan this QR code with your { $label } (Google Authenticator, Microsoft Authenticator, 1Password, Aegis, …).
account-credential-setup-manual = Cannot scan it? Enter this key in the app instead (time-based):
account-credential-setup-secret-note = This key is shown only while you set up the app. Nobody from { $org } will ask you for it.
# $length: the number of digits (6).
account-credential-setup-code = Then enter the { $length }-digit code the app shows
account-credential-setup-submit = Save
account-credential-setup-cancel = Cancel

## passkey-setup (adding a passkey; $label: "passkey")

account-passkey-setup-title = Add a { $label } · { $org }
account-passkey-setup-heading = Add a { $label }
account-passkey-setup-intro = Your device (this phone or computer, or a security key) makes a { $label } for your { $org } account and keeps it behind your fingerprint, your face, a PIN or its screen lock. You can then sign in with it instead of a code.
account-passkey-setup-name = A name, to tell it apart
account-passkey-setup-name-title = A name of at least one letter, digit or sign
account-passkey-setup-noscript = Adding a passkey needs JavaScript.
account-passkey-setup-create = Create the { $label }
account-passkey-setup-cancel = Cancel
