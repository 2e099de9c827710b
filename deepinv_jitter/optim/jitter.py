"""SGD / SPGD jittering iterators (placeholder: being built under the jittering-core issue)."""


class JitterGDIteration:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("being built under the jittering-core issue")


class JitterPGDIteration:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("being built under the jittering-core issue")


def jitterize(model):
    raise NotImplementedError("being built under the jittering-core issue")
