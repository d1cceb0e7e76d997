"""The loss chooser table and navigation links, keyboard use, and a phone-sized screen."""

from urllib.parse import parse_qs, urlparse

from selenium.webdriver.common.keys import Keys

from .conftest import checked, option_label


def click_chooser(lab, task):
    link = lab.driver.find_element("xpath", f"//table[@id='choose-loss-table']//a[normalize-space()='{task}']")
    lab.js("arguments[0].scrollIntoView({block: 'center'});", link)
    link.click()


def url_query(lab) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(lab.driver.current_url).query).items()}


def test_chooser_rows_open_their_view_with_that_preset(lab):
    lab.open("/multiclass", wait_for=("multiclass-loss-graph",))
    click_chooser(lab, "Robust regression")
    lab.wait_until(lambda: lab.curves("regression-loss-graph") == ["mse", "huber"], "regression with MSE and Huber")
    assert urlparse(lab.driver.current_url).path == "/regression"
    assert lab.value("regression-delta-input") == "1"
    assert checked(lab, "regression-losses") == ["mse", "huber"]
    assert lab.duo.find_element(".view h2").text == "Regression"

    click_chooser(lab, "Multilabel classification")
    lab.wait_until(lambda: lab.curves("binary-loss-graph") == ["bce", "focal"], "binary with BCE and focal")
    assert checked(lab, "binary-axis") == ["prob"]
    assert lab.layout("binary-loss-graph", "xaxis.title.text") == "predicted probability p̂"

    click_chooser(lab, "Soft targets (distillation, smoothed labels)")
    lab.wait_until(lambda: lab.curves("multiclass-loss-graph") == ["cross_entropy", "kl_divergence"],
                   "multiclass with cross-entropy and KL")
    assert checked(lab, "multiclass-losses") == ["cross_entropy", "kl_divergence"]

    click_chooser(lab, "Binary classification")
    lab.wait_until(lambda: lab.curves("binary-loss-graph") == ["bce"], "binary with BCE only")
    assert checked(lab, "binary-axis") == ["logit"]
    assert lab.duo.get_logs() == []


def test_chooser_preset_applies_again_after_the_controls_changed(lab):
    lab.open("/regression")
    click_chooser(lab, "Robust regression")
    lab.wait_until(lambda: lab.curves("regression-loss-graph") == ["mse", "huber"], "the Robust regression preset")
    lab.type_into("regression-delta-input", "3")
    lab.wait_until(lambda: url_query(lab).get("delta") == "3", "the URL to carry delta=3")

    click_chooser(lab, "Robust regression")  # back to the preset: delta = 1
    lab.wait_until(lambda: url_query(lab).get("delta") == "1", "the URL to show the preset")
    try:
        lab.wait_until(lambda: lab.value("regression-delta-input") == "1", "the preset delta", timeout=4)
    except AssertionError:
        pass
    assert lab.value("regression-delta-input") == "1", (
        f"the URL says delta=1 ({lab.driver.current_url}) but the delta box still shows "
        f"{lab.value('regression-delta-input')!r}: the preset link was ignored"
    )
    assert lab.duo.get_logs() == []


def test_nav_link_to_the_current_view_keeps_url_and_controls_in_agreement(lab):
    lab.open("/regression")
    lab.type_into("regression-target-input", "2")
    lab.wait_until(lambda: url_query(lab).get("target") == "2", "the URL to carry target=2")
    lab.driver.find_element("css selector", "#page-nav a[href='/regression']").click()
    lab.wait_until(lambda: url_query(lab).get("target") != "2", "the nav link to change the URL")

    def agree():
        return lab.value("regression-target-input") == url_query(lab).get("target", "0")

    try:
        lab.wait_until(agree, "the target box to match the URL", timeout=4)
    except AssertionError:
        pass
    assert agree(), (
        f"the URL {lab.driver.current_url} means target 0, but the box shows "
        f"{lab.value('regression-target-input')!r}: a copied link would not reopen what is on screen"
    )
    assert lab.duo.get_logs() == []


def test_keyboard_tab_type_enter_updates_chart(lab):
    lab.open("/regression")
    lab.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
    for _ in range(40):
        if lab.js("return document.activeElement.id;") == "regression-target-input":
            break
        lab.mouse().send_keys(Keys.TAB).perform()
    assert lab.js("return document.activeElement.id;") == "regression-target-input", "Tab never reached the box"
    lab.mouse().key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).send_keys("3", Keys.ENTER).perform()
    lab.wait_until(lambda: lab.trace("regression-loss-graph", "mse")["x0"] == -1, "the chart to follow y = 3")
    assert lab.value("regression-target-input") == "3"
    # Space toggles a focused loss checkbox.
    lab.js("document.querySelector('#regression-losses input[value=quantile]').focus();")
    lab.mouse().send_keys(Keys.SPACE).perform()
    lab.wait_until(lambda: "quantile" in lab.curves("regression-loss-graph"), "Space to tick the quantile loss")

    # And a focused radio button: Space switches the binary x axis.
    lab.open("/binary")
    assert option_label(lab, "binary-axis", "prob").is_displayed()
    lab.js("document.querySelector('#binary-axis input[value=prob]').focus();")
    lab.mouse().send_keys(Keys.SPACE).perform()
    lab.wait_until(lambda: lab.layout("binary-loss-graph", "xaxis.title.text") == "predicted probability p̂",
                   "Space on the radio to switch the axis")
    assert lab.duo.get_logs() == []


def test_phone_viewport_fits_without_horizontal_scroll(lab):
    lab.driver.set_window_size(390, 844)
    for path in ("/regression", "/binary", "/multiclass"):
        lab.open(path)
        assert lab.js("return window.innerWidth;") <= 390
        view = path.strip("/")
        for graph in (f"{view}-loss-graph", f"{view}-grad-graph"):
            box = lab.js("const r = document.getElementById(arguments[0]).getBoundingClientRect();"
                         "return [r.left, r.right, r.width, r.height];", graph)
            assert box[0] >= 0 and box[1] <= 390 and box[2] > 250 and box[3] > 200, (path, graph, box)
            assert lab.duo.find_element(f"#{graph}").is_displayed(), (path, graph)
        inputs = lab.js("return Array.from(document.querySelectorAll('.controls input[type=text]'), (i) => i.id);")
        assert inputs, path
        for input_id in inputs:
            element = lab.duo.find_element(f"#{input_id}")
            lab.js("arguments[0].scrollIntoView({block: 'center'});", element)
            assert element.is_displayed() and element.size["width"] > 40, (path, input_id)
            assert 0 <= element.rect["x"] and element.rect["x"] + element.size["width"] <= 390, (path, input_id)
        widest = lab.js("return document.documentElement.scrollWidth;")
        assert widest <= 390 + 1, f"{path} is {widest} px wide on a 390 px screen"
    assert lab.duo.get_logs() == []
