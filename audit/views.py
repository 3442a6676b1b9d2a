"""/audit/ (staff): read and export the trail; nothing here writes to it."""

import csv
import json

from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views import View

from .forms import AuditFilterForm
from .selectors import AuditFilters, audit_entries

PAGE_SIZE = 100
CSV_COLUMNS = ["at", "who", "action", "object_type", "object_id", "object", "summary", "changes", "address"]


def _filters(request) -> tuple[AuditFilterForm, AuditFilters | None]:
    form = AuditFilterForm(request.GET or None)
    if not request.GET:
        return form, AuditFilters()
    if not form.is_valid():
        return form, None
    return form, AuditFilters(
        **{k: v or ("" if k in ("who", "action", "q") else None) for k, v in form.cleaned_data.items()}
    )


class AuditListView(View):
    def get(self, request):
        form, filters = _filters(request)
        if filters is None:
            return render(request, "audit/audit_list.html", {"form": form, "page": None}, status=400)
        page = Paginator(audit_entries(filters), PAGE_SIZE).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        return render(request, "audit/audit_list.html", {"form": form, "page": page, "query": query.urlencode()})


class AuditExportView(View):
    def get(self, request):
        form, filters = _filters(request)
        if filters is None:
            errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
            return HttpResponse(json.dumps(errors), status=400, content_type="application/json")
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="beacon-audit-{stamp}.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        for entry in audit_entries(filters).iterator(chunk_size=2000):
            writer.writerow(
                [
                    entry.at.isoformat(),
                    entry.actor_name,
                    entry.action,
                    entry.object_type,
                    entry.object_id,
                    entry.object_repr,
                    entry.summary,
                    json.dumps(entry.changes, sort_keys=True, default=str),
                    entry.ip_address or "",
                ]
            )
        return response
