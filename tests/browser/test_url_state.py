"""Links reopen a view exactly; bad links fall back to defaults with a visible, text-only notice."""

from urllib.parse import quote

from .conftest import assert_close, checked, grid_x

R_LOSS, R_GRAD = "regression-loss-graph", "regression-grad-graph"


def test_link_restores_regression_state(lab):
    lab.open("/regression?target=2&delta=0.5&losses=mse,huber")
    assert lab.value("regression-target-input") == "2"
    assert lab.value("regression-delta-input") == "0.5"
    assert lab.duo.find_element("#regression-target-slider [role=slider]").get_attribute("aria-valuenow") == "2"
    assert checked(lab, "regression-losses") == ["mse", "huber"]
    for graph in (R_LOSS, R_GRAD):
        assert lab.curves(graph) == ["mse", "huber"]
    huber = lab.trace(R_LOSS, "huber")
    assert huber["x0"] == -2  # y - 4

    def expected(x):
        a = min(abs(x - 2), 0.5)
        return a * (abs(x - 2) - a / 2)

    assert_close(huber["y"], [expected(x) for x in grid_x(huber)], what="Huber, y=2, delta=0.5")
    assert lab.text("url-notice") == ""
    assert lab.duo.get_logs() == []


def test_invalid_link_shows_notice_and_defaults(lab):
    lab.open("/binary?label=abc&foo=1")
    notice = lab.duo.wait_for_element("#url-notice")
    lab.wait_until(lambda: notice.text, "the URL notice")
    assert notice.is_displayed()
    assert "abc" in notice.text and "foo" in notice.text
    assert lab.value("binary-label-input") == "0"
    assert lab.value("binary-probability-input") == "0.99"
    assert checked(lab, "binary-axis") == ["logit"]
    assert lab.curves("binary-loss-graph") == ["bce", "sigmoid_mse"]
    assert "|dBCE/dz| = 0.99," in lab.text("binary-lesson")
    assert lab.duo.get_logs() == []


def test_script_in_link_is_shown_as_text_not_run(lab):
    script = "<script>window.__x=1</script>"
    image = "<img src=x onerror=window.__y=1>"
    lab.open(f"/binary?foo={quote(script)}&label={quote(image)}&{quote(script)}=1")
    notice = lab.duo.wait_for_element("#url-notice")
    lab.wait_until(lambda: notice.text, "the URL notice")
    assert image in notice.text  # the bad label is quoted back, literally
    assert "<script>window.__x" in notice.text  # the unknown key, literally
    assert lab.js("return document.querySelectorAll('#url-notice *').length;") == 0  # text only, no elements
    assert lab.js("return typeof window.__x;") == "undefined"
    assert lab.js("return typeof window.__y;") == "undefined"
    assert lab.value("binary-label-input") == "0"
    assert lab.duo.get_logs() == []
