from config.roles import has_role


def delivery_banner(request):
    """Staff see a banner while emails or chat posts are failing or waiting for a retry."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not has_role(user, (), allow_staff=True):
        return {}
    if request.path.startswith("/admin/") or request.path.startswith("/api/"):
        return {}
    from .notifications import delivery_trouble

    trouble = delivery_trouble()
    return {"delivery_trouble": trouble if trouble["failed"] or trouble["retrying"] else None}
