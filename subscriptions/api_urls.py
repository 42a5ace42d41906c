from django.urls import path

from subscriptions import api

urlpatterns = [
    path("subscriptions/<str:public_id>", api.subscription_detail, name="api_subscription_detail"),
    path("subscriptions/<str:public_id>/change-plan", api.subscription_change_plan,
         name="api_subscription_change_plan"),
    path("subscriptions/<str:public_id>/cancel", api.subscription_cancel, name="api_subscription_cancel"),
    path("subscriptions/<str:public_id>/undo-cancel", api.subscription_undo_cancel,
         name="api_subscription_undo_cancel"),
    path("subscriptions/<str:public_id>/pause", api.subscription_pause, name="api_subscription_pause"),
    path("subscriptions/<str:public_id>/resume", api.subscription_resume, name="api_subscription_resume"),
    path("subscriptions/<str:public_id>/extend-trial", api.subscription_extend_trial,
         name="api_subscription_extend_trial"),
    path("subscriptions/<str:public_id>/cancel-scheduled-change", api.subscription_cancel_scheduled_change,
         name="api_subscription_cancel_scheduled_change"),
]
