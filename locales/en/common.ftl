## Times, relative to now: "{ $when }" in other messages.

time-in-seconds = in { $n ->
        [one] 1 second
       *[other] { $n } seconds
    }
time-in-minutes = in { $n ->
        [one] 1 minute
       *[other] { $n } minutes
    }
time-in-hours = in { $n ->
        [one] 1 hour
       *[other] { $n } hours
    }
time-in-days = in { $n ->
        [one] 1 day
       *[other] { $n } days
    }
time-ago-seconds = { $n ->
        [0] just now
        [one] 1 second ago
       *[other] { $n } seconds ago
    }
time-ago-minutes = { $n ->
        [one] 1 minute ago
       *[other] { $n } minutes ago
    }
time-ago-hours = { $n ->
        [one] 1 hour ago
       *[other] { $n } hours ago
    }
time-ago-days = { $n ->
        [one] 1 day ago
       *[other] { $n } days ago
    }

## Lengths of time, after a preposition: "Try again after { $wait }."

duration-seconds = { $n ->
        [one] 1 second
       *[other] { $n } seconds
    }
duration-minutes = { $n ->
        [one] 1 minute
       *[other] { $n } minutes
    }
duration-hours = { $n ->
        [one] 1 hour
       *[other] { $n } hours
    }
duration-days = { $n ->
        [one] 1 day
       *[other] { $n } days
    }

## base

common-base-support = Need help? Contact { $brand } support

## error

common-error-reference = Reference: { $id }
