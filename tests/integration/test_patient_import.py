"""Patients › Import patients: upload, a preview naming each row's problem with the counts,
the import as a job with its progress kept in the database, the summary, the skipped rows
as a CSV, re-imports that update and never duplicate, the practice's clinics and tenancy,
the audit entry, and the larger upload allowed at this route only."""

from __future__ import annotations

import csv
import html
import io
import re

from sqlalchemy import func, select

from inbox.extensions import db
from inbox.models import AuditEvent, Clinic, CsvImport, Patient
from inbox.proxy import render
from tests.conftest import csrf_token, fresh, login, run_jobs

CSV = (
    "Chart Number,First Name,Last Name,Cell Phone,E-mail,DOB,Location\r\n"
    "C-1,Imani,Okafor,(917) 555-0301,imani@example.com,04/12/1988,Uptown\r\n"
    "C-2,Björn,Lind,917.555.0302,,1979-11-02,\r\n"
    "C-3,,,(917) 555-0303,,,\r\n"  # missing name
    "C-4,Tess,Bad,555,,,\r\n"  # bad phone
    "C-5,Imani,Twice,(917) 555-0301,,,\r\n"  # the same mobile as row 2
    "C-6,Ava,Martinez,(917) 555-0100,ava.new@example.com,,\r\n"  # already a patient (demo)
)


def _clinic(name: str) -> Clinic:
    return db.session.scalars(select(Clinic).where(Clinic.name == name)).one()


def _upload(client, data: bytes, *, clinic: str | int = "", name: str = "patients.csv"):
    token = csrf_token(client, "/patients/import")
    return client.post(
        "/patients/import",
        data={"csrf_token": token, "default_clinic_id": str(clinic),
              "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )  # fmt: skip


def _import_id(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return int(re.search(r"/patients/import/(\d+)$", response.headers["Location"]).group(1))


def _start(client, import_id: int):
    token = csrf_token(client, f"/patients/import/{import_id}")
    return client.post(f"/patients/import/{import_id}/start", data={"csrf_token": token})


def _patients(**where) -> list[Patient]:
    return list(db.session.scalars(select(Patient).filter_by(**where)))


def test_preview_import_summary_skipped_rows_and_a_reimport_that_updates(app, client, demo):
    login(client, "admin@glow.test")
    assert "Import patients" in client.get("/patients").get_data(as_text=True)
    downtown = _clinic("Downtown").id
    before = db.session.scalar(select(func.count(Patient.id)))
    import_id = _import_id(_upload(client, CSV.encode("utf-8-sig"), clinic=downtown))

    # The preview: columns guessed, every row's problem named, the counts.
    page = html.unescape(client.get(f"/patients/import/{import_id}").get_data(as_text=True))
    assert 'id="to-add"' in page
    counts = {k: int(re.search(rf'id="{k}">([\d,]+)<', page).group(1)) for k in
              ("to-add", "to-update", "to-skip")}  # fmt: skip
    assert counts == {"to-add": 2, "to-update": 1, "to-skip": 3}
    assert "Skipped: Missing name" in page
    assert "Skipped: Bad mobile number “555”" in page
    assert "Skipped: Same mobile number as row 2" in page
    assert "Already a patient: will be updated" in page
    assert re.search(r'<option value="3" selected>Cell Phone</option>', page)
    assert db.session.scalar(select(func.count(Patient.id))) == before  # nothing saved yet
    # Every row to skip, with its reason, as a file (the page lists the first 200).
    assert f'href="/patients/import/{import_id}/problems.csv"' in page
    problems = client.get(f"/patients/import/{import_id}/problems.csv")
    assert problems.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(problems.get_data(as_text=True))))
    assert rows[0][:3] == ["Row", "Reason", "Chart Number"]
    assert [(r[0], r[1]) for r in rows[1:]] == [
        ("4", "Missing name"),
        ("5", "Bad mobile number “555”"),
        ("6", "Same mobile number as row 2"),
    ]

    # The import: queued, its progress polled while it runs, then the summary.
    assert _start(client, import_id).status_code == 302
    page = client.get(f"/patients/import/{import_id}").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in page and '<progress max="100"' in page
    run_jobs(app)
    fresh()
    done = client.get(f"/patients/import/{import_id}/progress").get_data(as_text=True)
    assert "hx-trigger" not in done and "Import finished" in done
    assert re.search(r'id="count-added">2<', done) and re.search(r'id="count-updated">1<', done)
    assert re.search(r'id="count-skipped">3<', done)
    assert db.session.scalar(select(func.count(Patient.id))) == before + 2
    assert db.session.get(CsvImport, import_id).content == ""  # no copy of the file kept
    assert client.get(f"/patients/import/{import_id}/problems.csv").status_code == 404
    imani = _patients(external_id="C-1")[0]
    assert (imani.first_name, imani.phone, imani.home_clinic.name, str(imani.date_of_birth)) == (
        "Imani", "+19175550301", "Uptown", "1988-04-12",
    )  # fmt: skip
    bjorn = _patients(external_id="C-2")[0]
    assert bjorn.home_clinic_id == downtown and bjorn.name_search.startswith("bjorn lind")
    ava = _patients(phone="+19175550100")[0]
    assert (ava.email, ava.external_id, ava.first_name) == ("ava.new@example.com", "C-6", "Ava")
    # Found on the Patients page, as any patient is.
    rows = client.get("/patients?q=okafor", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "Imani Okafor" in html.unescape(rows)

    # The skipped rows, as they were, with their reasons.
    r = client.get(f"/patients/import/{import_id}/skipped.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    skipped = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert skipped[0][:3] == ["Row", "Reason", "Chart Number"]
    assert [(row[0], row[1]) for row in skipped[1:]] == [
        ("4", "Missing name"), ("5", "Bad mobile number “555”"),
        ("6", "Same mobile number as row 2"),
    ]  # fmt: skip

    # Audited with counts only: no names, no numbers.
    entry = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "imported_patients")
    ).one()
    assert entry.summary == "2 added, 1 updated, 3 skipped of 6 rows"

    # Importing again (a changed mobile and email, matched on the Patient ID) updates.
    again = CSV.replace("(917) 555-0301,imani@example.com", "(917) 555-0311,imani@new.example")
    second = _import_id(_upload(client, again.encode(), clinic=downtown))
    page = html.unescape(client.get(f"/patients/import/{second}").get_data(as_text=True))
    assert re.search(r'id="to-update">3<', page) and re.search(r'id="to-add">0<', page)
    assert _start(client, second).status_code == 302
    run_jobs(app)
    fresh()
    assert db.session.scalar(select(func.count(Patient.id))) == before + 2
    imani = _patients(external_id="C-1")[0]
    assert (imani.phone, imani.email) == ("+19175550311", "imani@new.example")
    assert imani.phone_digits == "9175550311"
    assert db.session.get(CsvImport, second).updated == 3
    # Started imports cannot be started twice, nor their columns changed.
    assert _start(client, second).status_code == 422
    token = csrf_token(client, f"/patients/import/{second}")
    r = client.post(f"/patients/import/{second}", data={"csrf_token": token, "phone": "1"})
    assert r.status_code == 200 and "Import finished" in r.get_data(as_text=True)


def test_columns_chosen_on_the_preview_and_refusals_that_keep_the_choice(app, client, demo):
    login(client, "admin2@glow.test")
    uptown = _clinic("Uptown").id
    data = "Patient Name;Phone;Notes\r\nOkafor, Imani;917 555 0301;\r\n".encode("cp1252")
    import_id = _import_id(_upload(client, data, clinic=uptown))
    page = client.get(f"/patients/import/{import_id}").get_data(as_text=True)
    assert re.search(r'id="to-add">1<', page)
    # Unmap the mobile: the preview says which column to choose, and keeps the others.
    token = csrf_token(client, f"/patients/import/{import_id}")
    r = client.post(f"/patients/import/{import_id}",
                    data={"csrf_token": token, "full_name": "0", "phone": "",
                          "default_clinic_id": str(uptown)})  # fmt: skip
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 422 and "Choose the column that holds the mobile number" in page
    assert re.search(r'<option value="0" selected>Patient Name</option>', page)
    assert re.search(rf'<option value="{uptown}" selected>Uptown</option>', page)
    # A file refused at upload: the reason, and the clinic as chosen.
    r = _upload(client, b"", clinic=uptown)
    page = html.unescape(r.get_data(as_text=True))
    assert r.status_code == 422 and "The file is empty" in page
    assert re.search(rf'<option value="{uptown}" selected>Uptown</option>', page)


def test_template_download_and_who_may_import(app, client, demo):
    login(client, "admin@glow.test")
    r = client.get("/patients/import/template.csv")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.get_data(as_text=True).startswith("Patient ID,First Name,Last Name,Mobile")
    import_id = _import_id(_upload(client, CSV.encode()))
    login(client, "staff@glow.test")  # Inbox privilege, not an admin
    assert client.get("/patients/import").status_code == 403
    assert "Import patients" not in client.get("/patients").get_data(as_text=True)
    login(client, "admin@fresh.test")  # another practice's admin
    for path in ("", "/progress", "/skipped.csv"):
        assert client.get(f"/patients/import/{import_id}{path}").status_code == 404


def test_an_admin_of_some_clinics_opens_only_their_own_imports(app, client, demo):
    """A file's preview and skipped rows name patients of any clinic: an admin limited to
    some clinics opens the imports they uploaded; whoever sees every clinic opens all."""
    from inbox.models import User

    ari = db.session.scalars(select(User).where(User.email == "admin2@glow.test")).one()
    ari.all_clinics, ari.clinics = False, [_clinic("Downtown")]
    db.session.commit()
    login(client, "admin@glow.test")  # the Main Admin: every clinic
    theirs = _import_id(_upload(client, CSV.encode()))
    _start(client, theirs)
    run_jobs(app)
    login(client, "admin2@glow.test")
    for path in ("", "/progress", "/skipped.csv"):
        assert client.get(f"/patients/import/{theirs}{path}").status_code == 404
    assert _start(client, theirs).status_code == 404
    assert f"/patients/import/{theirs}" not in client.get("/patients/import").get_data(True)
    mine = _import_id(_upload(client, CSV.encode(), clinic=_clinic("Downtown").id))
    assert client.get(f"/patients/import/{mine}").status_code == 200
    login(client, "admin@glow.test")
    # Opened by the Main Admin, it is checked as the job will run it: as Ari, who cannot
    # see Uptown (Imani's row) nor pick it for new patients.
    page = html.unescape(client.get(f"/patients/import/{mine}").get_data(as_text=True))
    assert "Skipped: Unknown clinic “Uptown”" in page
    picker = re.search(r'<select[^>]*name="default_clinic_id".*?</select>', page, re.S).group(0)
    assert "Downtown" in picker and "Uptown" not in picker


def test_only_the_import_route_takes_a_large_body(app, client, demo):
    login(client, "admin@glow.test")
    big = ("First Name,Last Name,Mobile\r\n" + "".join(
        f"P{i},Bulk,(917) 600-{i:04d}\r\n" for i in range(4000))).encode()  # fmt: skip
    assert len(big) > app.config["MAX_CONTENT_LENGTH"]
    import_id = _import_id(_upload(client, big, clinic=_clinic("Downtown").id))
    assert db.session.get(CsvImport, import_id).total_rows == 4000
    token = csrf_token(client, "/patients/new")
    r = client.post("/patients/new", data={"csrf_token": token, "first_name": "x" * len(big)})
    assert r.status_code == 413
    app.config["IMPORT_MAX_BYTES"], was = 1024, app.config["IMPORT_MAX_BYTES"]
    try:
        r = _upload(client, big)
        assert r.status_code == 413
        assert "That file is larger than 1 KB" in r.get_data(as_text=True)
    finally:
        app.config["IMPORT_MAX_BYTES"] = was


def test_the_proxy_allows_the_import_size_at_the_import_route_only(tmp_path):
    conf = render(listen="127.0.0.1:5000", upstream="127.0.0.1:8000", max_body=64 * 1024,
                  runtime=tmp_path, import_max_body=20 * 1024 * 1024)  # fmt: skip
    assert conf.count("client_max_body_size 64k;") == 1
    block = conf.split("location = /patients/import {", 1)[1].split("}", 1)[0]
    assert "client_max_body_size 20480k;" in block


def test_an_import_whose_job_is_gone_shows_as_stopped(app, client, demo):
    from inbox.broker import get_redis
    from inbox.services import imports

    login(client, "admin@glow.test")
    import_id = _import_id(_upload(client, CSV.encode(), clinic=_clinic("Downtown").id))
    assert _start(client, import_id).status_code == 302
    page = client.get(f"/patients/import/{import_id}/progress").get_data(as_text=True)
    assert 'hx-trigger="every 1s"' in page  # queued, its job waiting: keep polling
    get_redis(app).delete(f"rq:job:{imports.job_id(import_id)}")  # Redis lost it
    page = html.unescape(
        client.get(f"/patients/import/{import_id}/progress").get_data(as_text=True)
    )
    assert "hx-trigger" not in page and "Import stopped" in page
    assert "Importing the file again updates those and adds the rest" in page
    run_jobs(app)  # the queue's stale entry finds no job (or a stopped import): nothing done
    fresh()
    assert db.session.get(CsvImport, import_id).status == "failed"
    assert _patients(external_id="C-1") == []
