from tests.conftest import browser_login


def test_a_helpdesk_user_logs_in_and_sees_the_dashboard(page, helpdesk_user, transactional_db):
    browser_login(page, helpdesk_user)
    assert page.locator("h1").first.inner_text() == "What is broken right now"
