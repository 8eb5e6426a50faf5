## A step's errors (`StepError`).

engine-error-wrong-credentials = Wrong username or password.
engine-error-identifier-missing = Enter your username or email address.
engine-error-no-code-sent = No code was sent yet. Ask for a new code.
engine-error-code-wrong-last = That code is not right, and it was the last try: this code no longer works. Ask for a new code.
engine-error-code-wrong = That code is not right. { $n ->
        [one] 1 attempt left.
       *[other] { $n } attempts left.
    }
engine-error-code-expired = This code has expired. Ask for a new code.
engine-error-code-used = This code was already used. Ask for a new code.
engine-error-code-void = This code no longer works (too many wrong tries, or a newer code was sent). Ask for a new code.
engine-error-not-sent = We could not send the code to this number. Ask for a new code in a moment.
engine-error-still-trying = We could not send the code yet and keep trying for a few minutes. If it has not arrived in a minute, ask for a new code.
engine-error-resend-wait = Please wait { $n ->
        [one] 1 second
       *[other] { $n } seconds
    } before asking for a new code.
engine-error-resend-blocked = Too many new codes were asked for. You can ask again after { $wait }.
engine-error-backup-code-wrong = That backup code is not valid or was already used.
engine-error-sms-paused = Text messages are paused for now: too many were sent. Use one of your backup codes if you have them, or try again after { $wait }.
engine-error-factor-code-wrong = That code is not right. Enter the code your app shows now.
engine-error-code-replayed = That code was already used. Wait for your app to show a new one.
engine-error-not-enrolled = You have not set this up yet. Use another way to sign in, or ask your administrator.
engine-error-no-more-codes = No more new codes can be sent in this sign-in. Use the last code, another way, or start signing in again.
engine-error-address-throttled = Too many codes were sent to this address lately. Try again later, or use another way.
engine-error-mail-not-sent = We could not send the email. Ask for a new code in a moment, or use another way.
engine-error-key-refused = That passkey did not sign you in. Try again with a passkey you added to this account, or use another way.
engine-error-key-timed-out = That passkey request was already used or took too long. Try again.

## Numbers codes cannot be sent to.

engine-number-invalid = This is not a valid mobile number. Give it with its country code, such as +44 7400 900123.
engine-number-premium-rate = Codes cannot be sent to premium-rate or shared-cost numbers.
engine-number-line-type = Codes can only be sent to mobile numbers.
engine-number-country = Codes cannot be sent to numbers of this country.

## Notices.

engine-notice-new-code-sent = We sent a new code. Earlier codes no longer work.

## Links to a passkey.

engine-key-create = Create a passkey instead
engine-key-use = Use your passkey instead

## Why a sign-in cannot go on (`Refusal`): a title and a message.

engine-refusal-expired-title = This sign-in has expired
engine-refusal-expired = This sign-in page has expired, was already used, or was opened in another browser. Go back to the application and start again.
engine-refusal-form-expired-title = The form has expired
engine-refusal-form-expired = This form was not sent from the current page. Go back, reload the page and try again.
engine-refusal-locked-title = Account locked
engine-refusal-locked = This account is locked after too many failed sign-ins. Try again after { $wait }.
engine-refusal-network-throttled-title = Too many failed sign-ins
engine-refusal-network-throttled = There were too many failed sign-ins from your network. Try again after { $wait }.
engine-refusal-disabled-title = Account disabled
engine-refusal-disabled = This account is disabled. Contact your administrator.
engine-refusal-another-account-title = Another account
engine-refusal-another-account = This sign-in is for another account. Go back and start again.
engine-refusal-confirm-again-title = Confirm it is you again
engine-refusal-confirm-again = Too much time passed since you confirmed it is you. Go back to your account and start again.
engine-refusal-links-throttled-title = Too many sign-in links
engine-refusal-links-throttled = Too many links (to sign in or to reset a password) were asked for from your network. Wait a while, or sign in another way.
engine-refusal-link-invalid-title = This link does not work
engine-refusal-link-invalid = This link is not valid. Go back to the application and ask for a new one.
engine-refusal-link-used-title = This link was already used
engine-refusal-link-used = Each link we email works once, and a newer link replaces older ones. Go back to the application and ask for a new one if you need to.
engine-refusal-link-expired-title = This link has expired
engine-refusal-link-expired = The links we email work for a few minutes only. Go back to the application and ask for a new one.
engine-refusal-link-other-browser-title = Open the link in the browser where you asked for it
engine-refusal-link-other-browser = For your safety, a link we email only works in the browser where you asked for it. Open it there (copy the address from the email if needed).

## What the pages and the text message call a sign-in to the account area (for an
## application, its name).

engine-purpose-account = { $org } account
engine-purpose-reset = { $org } password reset
