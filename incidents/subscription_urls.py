from django.urls import path

from . import subscription_views as views

app_name = "subscriptions"

urlpatterns = [
    path("", views.SubscriptionsView.as_view(), name="mine"),
    path("unsubscribe/<str:token>/", views.UnsubscribeView.as_view(), name="unsubscribe"),
]
