"""Pictures of what a run computed: the outputs a picture shows (`outputs`), the figures (`plots`, matplotlib from
the ``plot`` extra) and the HTML report (`report`)."""
