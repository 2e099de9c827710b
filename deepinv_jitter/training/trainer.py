"""JitterTrainer (placeholder: being built under the jittering-core issue)."""


class JitterTrainer:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("being built under the jittering-core issue")
