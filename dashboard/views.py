from django.shortcuts import render
from django.views import View

from config.roles import READ_INCIDENTS, RoleRequiredMixin
from incidents import selectors


class HomeView(RoleRequiredMixin, View):
    roles = READ_INCIDENTS

    def get(self, request):
        return render(
            request,
            "dashboard/home.html",
            {"open_incidents": selectors.open_incidents(), "services": selectors.services_with_status()},
        )
