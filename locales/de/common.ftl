## Zeiten, relativ zu jetzt: „{ $when }“ in anderen Meldungen.

time-in-seconds = in { $n ->
        [one] 1 Sekunde
       *[other] { $n } Sekunden
    }
time-in-minutes = in { $n ->
        [one] 1 Minute
       *[other] { $n } Minuten
    }
time-in-hours = in { $n ->
        [one] 1 Stunde
       *[other] { $n } Stunden
    }
time-in-days = in { $n ->
        [one] 1 Tag
       *[other] { $n } Tagen
    }
time-ago-seconds = { $n ->
        [0] gerade eben
        [one] vor 1 Sekunde
       *[other] vor { $n } Sekunden
    }
time-ago-minutes = { $n ->
        [one] vor 1 Minute
       *[other] vor { $n } Minuten
    }
time-ago-hours = { $n ->
        [one] vor 1 Stunde
       *[other] vor { $n } Stunden
    }
time-ago-days = { $n ->
        [one] vor 1 Tag
       *[other] vor { $n } Tagen
    }

## Zeitspannen, nach einer Präposition (Dativ): „Versuchen Sie es in { $wait } erneut.“

duration-seconds = { $n ->
        [one] 1 Sekunde
       *[other] { $n } Sekunden
    }
duration-minutes = { $n ->
        [one] 1 Minute
       *[other] { $n } Minuten
    }
duration-hours = { $n ->
        [one] 1 Stunde
       *[other] { $n } Stunden
    }
duration-days = { $n ->
        [one] 1 Tag
       *[other] { $n } Tagen
    }

## base

common-base-support = Brauchen Sie Hilfe? Wenden Sie sich an den Support von { $brand }

## error

common-error-reference = Referenz: { $id }
