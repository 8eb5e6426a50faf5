# mail: the emails. Subjects and notices are plain text; the link mails have a text part
# (no markup, nothing escaped) and an HTML part (arguments escaped). A message used by both
# parts holds no markup. A "-text" message is the text part's wording of a sentence whose
# lines are broken there: keep its line break (after the colon).

## Subjects. The link mails also show theirs as the heading.

# { $app }: the application's name.
mail-subject-magic-link = Sign in to { $app }
mail-subject-password-reset = Reset your { $org } password
mail-subject-registration = Finish creating your { $org } account
# A registration with an address that already has an account.
mail-subject-registration-existing = You already have an account at { $org }
# Notice after a password change in the account area.
mail-subject-password-changed = Your { $org } password was changed
# Notice after a password reset by email link.
mail-subject-password-reset-done = Your { $org } password was reset

## Shared by the link mails

# { $link }: the address of the link.
mail-link-copy = Or copy this address: { $link }
mail-link-expiry = It works once and expires in { $minutes ->
        [one] 1 minute
       *[other] { $minutes } minutes
    }.

## magic-link

mail-magic-link-asked = Someone (hopefully you) asked to sign in to { $app } ({ $org }) with this email address.
mail-magic-link-open = Open this link in the browser where you asked for it:
# The button.
mail-magic-link-button = Sign in
mail-magic-link-ignore = If you did not ask for it, ignore this email: nobody can use the link from another browser.
mail-magic-link-ignore-text =
    If you did not ask for it, ignore this email:
    nobody can use the link from another browser.

## password-reset

mail-password-reset-asked = Someone (hopefully you) asked to reset the password of the { $org } account that uses this email address.
mail-password-reset-open = Open this link in the browser where you asked for it, then choose a new password:
# The button.
mail-password-reset-button = Choose a new password
mail-password-reset-ignore = If you did not ask for it, ignore this email: your password stays as it is, and nobody can use the link from another browser.
mail-password-reset-ignore-text =
    If you did not ask for it, ignore this email: your
    password stays as it is, and nobody can use the link from another browser.

## registration

mail-registration-asked = Someone (hopefully you) registered an account with this email address for { $app }.
mail-registration-open = Open this link in the browser where you registered to create the account:
# The button.
mail-registration-button = Create my account
mail-registration-ignore = If you did not register, ignore this email: no account is created, and nobody can use the link from another browser.
mail-registration-ignore-text =
    If you did not register, ignore this email:
    no account is created, and nobody can use the link from another browser.

## Notices: plain text, one message a paragraph (joined with a blank line).

mail-notice-password-changed = The password of your { $org } account was changed, and every other browser signed in to it was signed out.
mail-notice-password-changed-not-you = If you did not change it, tell your administrator at once.
mail-notice-password-reset = The password of your { $org } account was reset with a link sent to this address, and every browser signed in to it was signed out.
mail-notice-password-reset-not-you = If you did not reset it, tell your administrator at once.
mail-notice-registration-existing = Someone (hopefully you) tried to register a new { $org } account for { $app } with this email address, which already belongs to an account. No new account was created.
# Where the organization resets passwords by email: quote the sign-in page's link as it reads there.
mail-notice-registration-existing-reset = To sign in, use your existing account; if you forgot its password, choose "Forgot your password?" on the sign-in page.
# Where it does not.
mail-notice-registration-existing-admin = To sign in, use your existing account; if you cannot sign in, ask your administrator.
mail-notice-registration-existing-not-you = If it was not you, ignore this email.
