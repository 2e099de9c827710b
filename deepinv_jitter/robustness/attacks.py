"""L2 PGD attacks in measurement space (placeholder: being built under the jittering-core issue)."""


def pgd_attack(*args, **kwargs):
    raise NotImplementedError("being built under the jittering-core issue")
