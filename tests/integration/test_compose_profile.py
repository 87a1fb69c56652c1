"""New message, saved replies with merge fields, the patient profile and timeline."""

from sqlalchemy import func, select

from inbox.extensions import db
from inbox.models import Clinic, Conversation, Message, PaperworkItem, Patient, ReplyTemplate
from inbox.services import templates
from tests.conftest import csrf_token, fresh, login

HTMX = {"HX-Request": "true"}


def _patient(first: str) -> Patient:
    return db.session.scalars(select(Patient).where(Patient.first_name == first)).one()


def _clinic_id(client_html: str, name: str) -> str:
    import re

    return re.search(rf'<option value="(\d+)"[^>]*>{name}</option>', client_html).group(1)


def test_compose_to_a_patient_found_by_name_opens_their_conversation(client, demo):
    login(client, "staff@glow.test")
    options = client.get("/inbox/patients?q=chen", headers=HTMX).get_data(as_text=True)
    liam = _patient("Liam")
    assert "Liam Chen" in options and "(917) 555-0101" in options or "Liam Chen" in options
    form = client.get(f"/inbox/new?patient_id={liam.id}", headers=HTMX).get_data(as_text=True)
    assert "Liam Chen" in form and f'value="{liam.id}"' in form
    token = csrf_token(client, "/inbox")

    def send(clinic_id: int, body: str):
        data = {"patient_id": liam.id, "clinic_id": clinic_id, "body": body, "csrf_token": token}
        return client.post("/inbox/new", data=data, headers=HTMX)

    r = send(liam.home_clinic_id, "Hi Liam!")
    assert r.status_code == 204
    conv = db.session.scalars(select(Conversation).where(Conversation.patient_id == liam.id)).one()
    assert r.headers["HX-Redirect"] == f"/inbox/c/{conv.id}"
    fresh()
    last = db.session.scalars(select(Message).order_by(Message.id.desc())).first()
    assert (last.conversation_id, last.body, last.status) == (conv.id, "Hi Liam!", "queued")
    # Another clinic picked for a patient with a conversation: the conversation is filed there now.
    other = db.session.scalars(
        select(Clinic).where(Clinic.account_id == liam.account_id, Clinic.id != conv.clinic_id)
    ).first()
    r = send(other.id, "Moved you over")
    assert r.headers["HX-Redirect"] == f"/inbox/c/{conv.id}"  # the same conversation
    fresh()
    assert db.session.get(Conversation, conv.id).clinic_id == other.id
    html = client.get(f"/inbox?clinic={other.id}&tab=read").get_data(as_text=True)
    html += client.get(f"/inbox?clinic={other.id}").get_data(as_text=True)
    assert f'id="conv-{conv.id}"' in html


def test_compose_to_a_typed_number_creates_the_conversation(client, demo):
    login(client, "staff@glow.test")
    page = client.get("/inbox/new").get_data(as_text=True)
    uptown = _clinic_id(page, "Uptown")
    token = csrf_token(client, "/inbox/new")
    r = client.post(
        "/inbox/new",
        data={"phone": "(646) 555-0777", "clinic_id": uptown, "body": "Welcome!",
              "csrf_token": token},
    )  # fmt: skip
    assert r.status_code == 302
    fresh()
    patient = db.session.scalars(select(Patient).where(Patient.phone == "+16465550777")).one()
    conv = db.session.scalars(
        select(Conversation).where(Conversation.patient_id == patient.id)
    ).one()
    assert str(conv.clinic_id) == uptown and r.headers["Location"].endswith(f"/inbox/c/{conv.id}")


def test_compose_refuses_bad_input_with_words_and_keeps_the_text(client, demo):
    login(client, "staff@glow.test")
    page = client.get("/inbox/new").get_data(as_text=True)
    uptown = _clinic_id(page, "Uptown")
    token = csrf_token(client, "/inbox/new")
    before = db.session.scalar(select(func.count(Patient.id)))
    cases = [
        (
            {"phone": "555", "clinic_id": uptown, "body": "Hello there"},
            "is not a valid phone number",
        ),
        (
            {"phone": "+1 (917) 555-0199 ext 4", "clinic_id": uptown, "body": "Hello there"},
            "has an extension (4)",
        ),
        ({"phone": "", "clinic_id": uptown, "body": "Hello there"}, "Pick a patient"),
        ({"phone": "6465550777", "clinic_id": "999999", "body": "Hello there"}, "Pick the clinic"),
        ({"phone": "6465550777", "clinic_id": uptown, "body": "  "}, "Write a message"),
        (
            {"phone": "(212) 555-0134", "clinic_id": uptown, "body": "Hello there"},
            "your practice&#39;s own Inbox number",
        ),
        (
            {"phone": "6465550777", "clinic_id": uptown, "body": "Hello there " + "x" * 1200},
            "the limit is 6",
        ),
    ]
    for data, words in cases:
        r = client.post("/inbox/new", data={**data, "csrf_token": token}, headers=HTMX)
        text = r.get_data(as_text=True)
        assert r.status_code == 422 and words in text, (data, text[:300])
        if data["body"].strip():
            assert "Hello there" in text
    fresh()
    assert db.session.scalar(select(func.count(Patient.id))) == before


def test_templates_fill_merge_fields_and_suggest_paperwork(ctx, demo):
    conv = db.session.scalars(
        select(Conversation)
        .join(PaperworkItem, PaperworkItem.patient_id == Conversation.patient_id)
        .where(PaperworkItem.status == "outstanding")
    ).first()
    filled = templates.for_conversation(conv)
    assert filled[0].template.kind == "paperwork" and filled[0].suggested
    text = filled[0].text
    assert conv.patient.first_name in text and "this is Glow Aesthetics." in text
    late = next(f for f in filled if f.template.name == "Running late").text
    assert late.endswith(f"see you soon at Glow Aesthetics {conv.clinic.name}!")
    assert "https://portal.glowaesthetics.example" in text and "{" not in text
    appt = next(f for f in filled if f.template.kind == "appointment").text
    assert " at " in appt and "{next_appointment}" not in appt


def test_no_paperwork_suggestion_without_outstanding_forms(ctx, demo):
    done = db.session.scalars(
        select(Conversation)
        .join(PaperworkItem, PaperworkItem.patient_id == Conversation.patient_id)
        .where(PaperworkItem.status == "completed")
    ).first()
    assert not any(f.suggested for f in templates.for_conversation(done))


def test_stray_brace_in_a_template_is_shown_as_written(ctx, demo):
    conv = db.session.scalars(select(Conversation)).first()
    tpl = ReplyTemplate(account_id=conv.account_id, name="Odd", body="Hi {first_name")
    assert templates.fill(tpl.body, conv) == "Hi {first_name"


def test_profile_shows_contact_care_and_merged_timeline(client, demo):
    login(client, "staff@glow.test")
    ava = _patient("Ava")
    html = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    for words in ("Patient Info", "Patient Timeline", "(917) 555-0100", "Downtown",
                  "Upcoming appointments", "Outstanding paperwork", "Subscribed",
                  "Can I move my Botox appointment"):  # fmt: skip
        assert words in html, words
    timeline = html[html.index('class="timeline"') :]
    assert "Text from patient" in timeline and "Text sent by Sam Lee" in timeline
    assert "requested" in timeline


def test_profile_without_inbox_privilege_hides_texts(client, demo):
    login(client, "frontdesk@glow.test")
    ava = _patient("Ava")
    html = client.get(f"/patients/{ava.id}").get_data(as_text=True)
    assert "Patient Timeline" in html and "Can I move my Botox" not in html


def test_profile_of_another_account_is_404(client, demo):
    login(client, "admin@fresh.test")
    assert client.get(f"/patients/{_patient('Ava').id}").status_code == 404


def test_opted_out_conversation_shows_banner_and_disabled_composer(client, demo):
    login(client, "staff@glow.test")
    conv = db.session.scalars(select(Conversation).where(Conversation.opted_out.is_(True))).first()
    html = client.get(f"/inbox/c/{conv.id}").get_data(as_text=True)
    assert "Opted out." in html and "disabled" in html[html.index('id="composer-body"') - 200 :]
    token = csrf_token(client, f"/inbox/c/{conv.id}")
    r = client.post(f"/inbox/c/{conv.id}/messages", data={"body": "hi", "csrf_token": token})
    assert r.status_code == 422 and "opted out of texts" in r.get_data(as_text=True)


def test_new_message_flags_an_opted_out_patient_before_anything_is_typed(client, demo):
    login(client, "staff@glow.test")
    patient = db.session.scalars(select(Patient).where(Patient.opted_out_at.is_not(None))).first()
    options = client.get(f"/inbox/patients?q={patient.first_name}", headers=HTMX).get_data(
        as_text=True
    )
    assert "Opted out · can't be texted" in options
    form = client.get(f"/inbox/new?patient_id={patient.id}", headers=HTMX).get_data(as_text=True)
    assert 'id="compose-opted-out"' in form and "replied STOP" in form
    box = form[form.index('id="compose-text"') : form.index("</textarea>")]
    assert "disabled" in box
    send = form[form.index('type="submit" class="btn btn-primary"') :][:80]
    assert "disabled" in send
    # A subscribed patient: nothing in the way, and the segment counter is there.
    other = db.session.scalars(select(Patient).where(Patient.opted_out_at.is_(None))).first()
    form = client.get(f"/inbox/new?patient_id={other.id}", headers=HTMX).get_data(as_text=True)
    assert "compose-opted-out" not in form and 'id="compose-counter"' in form


def test_the_demo_opt_out_is_in_its_conversation(client, demo):
    """The demo patient who opted out shows why: her STOP and its one confirmation."""
    conv = db.session.scalars(select(Conversation).where(Conversation.opted_out.is_(True))).one()
    last_two = db.session.scalars(
        select(Message)
        .where(Message.conversation_id == conv.id)
        .order_by(Message.sent_at.desc())
        .limit(2)
    ).all()
    assert [(m.direction, m.kind) for m in last_two] == [("out", "optout_confirm"), ("in", "text")]
    assert last_two[1].body == "STOP" and conv.patient.opted_out_at == last_two[1].sent_at
    assert conv.last_message_preview.startswith("Opt-out confirmation: ")
