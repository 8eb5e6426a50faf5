# selfservice: the pages of self-registration ("Create an account") and of a password reset.

## shared by several pages

selfservice-back-to-signin = Back to sign-in
selfservice-continue = Continue signing in
# { $url }: the account area.
selfservice-back-or-account = Go back to the application and sign in, or <a href="{ $url }">open your account</a>.
# Under the new password's field (registration and password reset); { $min }: the policy's minimum length.
selfservice-password-hint = At least { $min ->
        [one] 1 character
       *[other] { $min } characters
    }. Any characters; a few words are easy to remember and hard to guess. Not a common password, nor one holding your username, your email address or the organization's name.

## register

# The page's title and heading.
selfservice-register-title = Create an account
selfservice-register-username = Username
selfservice-register-username-hint = What you sign in with: letters, digits, dots, hyphens and underscores, up to 64.
selfservice-register-email = Email address
selfservice-register-email-hint = We send a link there: your account exists once you open it.
selfservice-register-password = Password
selfservice-register-confirm = Password, again
selfservice-register-submit = Create my account

## register-sent

# The page's title and heading.
selfservice-register-sent-title = Check your email
selfservice-register-sent-status = We have sent a link to <strong>{ $email }</strong>. Open it in this browser to create your account.
selfservice-register-sent-lifetime = The link works for { $minutes ->
        [one] 1 minute
       *[other] { $minutes } minutes
    }, once, and only in this browser. Until then there is no account: if no mail comes, check the address and register again.

## register-done

selfservice-register-done-title = Account created
selfservice-register-done-heading = Your account is ready
selfservice-register-done-ready = Your email address is verified and you can sign in now.
# When the application asks for a second factor the new account does not have yet.
selfservice-register-done-ready-enroll = Your email address is verified and you can sign in now: the first sign-in also sets up your second factor.

## password-reset

# The page's title and heading.
selfservice-password-reset-title = Choose a new password
selfservice-password-reset-password = New password
selfservice-password-reset-confirm = New password, again
selfservice-password-reset-submit = Save my new password
selfservice-password-reset-sign-out = Saving it signs every browser out of your account. You then sign in with the new password and, if you have one, your second factor.

## password-reset-done

selfservice-password-reset-done-title = Password saved
selfservice-password-reset-done-heading = Your new password is saved
selfservice-password-reset-done-status = Every browser signed in to your account was signed out. Sign in with your new password and, if you have one, your second factor.
