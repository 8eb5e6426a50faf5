## Tiempos, relativos a ahora: «{ $when }» en otros mensajes.

time-in-seconds = dentro de { $n ->
        [one] 1 segundo
       *[other] { $n } segundos
    }
time-in-minutes = dentro de { $n ->
        [one] 1 minuto
       *[other] { $n } minutos
    }
time-in-hours = dentro de { $n ->
        [one] 1 hora
       *[other] { $n } horas
    }
time-in-days = dentro de { $n ->
        [one] 1 día
       *[other] { $n } días
    }
time-ago-seconds = { $n ->
        [0] ahora mismo
        [one] hace 1 segundo
       *[other] hace { $n } segundos
    }
time-ago-minutes = { $n ->
        [one] hace 1 minuto
       *[other] hace { $n } minutos
    }
time-ago-hours = { $n ->
        [one] hace 1 hora
       *[other] hace { $n } horas
    }
time-ago-days = { $n ->
        [one] hace 1 día
       *[other] hace { $n } días
    }

## Duraciones, tras una preposición: «Vuelva a intentarlo dentro de { $wait }.»

duration-seconds = { $n ->
        [one] 1 segundo
       *[other] { $n } segundos
    }
duration-minutes = { $n ->
        [one] 1 minuto
       *[other] { $n } minutos
    }
duration-hours = { $n ->
        [one] 1 hora
       *[other] { $n } horas
    }
duration-days = { $n ->
        [one] 1 día
       *[other] { $n } días
    }

## base

common-base-support = ¿Necesita ayuda? Póngase en contacto con el soporte de { $brand }

## error

common-error-reference = Referencia: { $id }
