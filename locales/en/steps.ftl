# steps: the second-factor pages (text message, emailed and app codes, backup codes, passkeys).

## shared by the code pages

steps-shared-continue = Continue
steps-shared-code-label = Code
steps-shared-send-new-code = Send a new code
# { $when } is a time from now: "in 30 seconds".
steps-shared-resend-wait = You can ask for a new code { $when }.

## otp (the code sent by text message)

steps-otp-title = Enter the code
steps-otp-enroll-sent = We sent a one-time code by text message to <strong>{ $phone }</strong>. Enter it to save this number as yours and go on.
steps-otp-enroll-intro = { $app } asks for a code sent by text message. Add your mobile number: we send a code to it, and it is saved as yours once you enter the code.
steps-otp-number-another-label = Another mobile number (international format, e.g. +44 7400 900123)
steps-otp-number-label = Mobile number (international format, e.g. +44 7400 900123)
steps-otp-send-to-number = Send a code to this number
steps-otp-use-app-instead = Use your authenticator app instead
steps-otp-no-phone = Your account has no verified mobile number, so we cannot send you a code.
steps-otp-no-phone-app = You can <a href="{ $url }">use your authenticator app</a> instead.
steps-otp-no-phone-backup = You can <a href="{ $url }">use a backup code</a> instead.
steps-otp-no-phone-admin = Ask your administrator to add your mobile number.
steps-otp-undelivered = <strong>The text message could not be delivered</strong> to <strong>{ $phone }</strong>.
steps-otp-undelivered-other-ways = Try another way (below), or ask for a new code.
steps-otp-undelivered-resend = You can ask for a new code.
steps-otp-sent = We sent a one-time code by text message to your mobile number <strong>{ $phone }</strong>.
steps-otp-not-sent = Codes go by text message to your mobile number <strong>{ $phone }</strong>; none could be sent yet.
steps-otp-code-label = One-time code

## otp-delivery (the code page's frame: what became of the text message)

steps-otp-delivery-title = Delivery of the text message
steps-otp-delivery-failed = The text message could not be delivered. <a href="{ $url }" target="_top">Try another way</a>
steps-otp-delivery-delivered = Your phone has received the text message.
steps-otp-delivery-waiting = Waiting for the delivery report of the text message…
steps-otp-delivery-no-report = No delivery report of the text message yet.

## sent-code (a code sent by email); { $label } is the factor's name, e.g. "email code"

steps-sent-title = Enter the { $label }
steps-sent-no-email = Your account has no verified email address, so we cannot send you a code.
steps-sent-sent = We sent a one-time code by email to <strong>{ $destination }</strong>. It can take a minute to arrive; look in your spam folder too.
steps-sent-not-sent = Codes go by email to <strong>{ $destination }</strong>; none could be sent yet.
steps-sent-no-more = No more new codes can be sent in this sign-in.

## code (a code from an app); { $label } is the factor's name, e.g. "authenticator app"

steps-code-setup-title = Set up your { $label }
steps-code-title = Enter the code from your { $label }
steps-code-setup-intro = { $app } asks for a second step when you sign in. Scan this QR code with your { $label } (Google Authenticator, Microsoft Authenticator, 1Password, Aegis, …), then enter the code it shows.
steps-code-setup-no-scan = Cannot scan it? Enter this key in the app instead (time-based):
steps-code-setup-code-label = The { $length }-digit code the app shows
steps-code-setup-submit = Save and continue
steps-code-intro = Open your { $label } and enter the code it shows for { $org }.

## backup-code

steps-backup-title = Use a backup code
steps-backup-intro = Enter one of the backup codes you saved. Each code works once.
steps-backup-code-label = Backup code

## passkey; { $label } is the factor's name, e.g. "passkey"

steps-passkey-create-title = Create a { $label }
steps-passkey-create-intro = { $app } asks for a second step when you sign in. Your device (this phone or computer, or a security key) makes a { $label } for your { $org } account and keeps it behind your fingerprint, your face, a PIN or its screen lock; you will use it from now on.
steps-passkey-name-label = A name, to tell it apart
# The name a new passkey gets unless the user types another.
steps-passkey-name-default = Passkey
steps-passkey-name-title = A name of at least one letter, digit or sign
steps-passkey-create-noscript = Creating a passkey needs JavaScript: turn it on, or use another way.
steps-passkey-create-submit = Create the { $label } and continue
steps-passkey-use-title = Use your { $label }
steps-passkey-use-intro = Use the { $label } you added to this account: your device asks for your fingerprint, your face, a PIN or its screen lock.
steps-passkey-use-noscript = Passkeys need JavaScript: turn it on, or use another way.
steps-passkey-use-submit = Use my { $label }

## passkey-script (what the passkey button's script says)

steps-passkey-script-unsupported = This browser cannot use passkeys. Use another way.
steps-passkey-script-exists = This device already holds a passkey for your account.
steps-passkey-script-failed = No passkey was used: the request was cancelled, timed out or refused. Try again, or use another way.

## The factors Sesame ships, as pages name them (a plug-in of its own keeps its own words).

factor-totp-label = authenticator app
factor-passkey-label = passkey
factor-email-otp-label = email code
factor-email-otp-offer = Email me a code instead
