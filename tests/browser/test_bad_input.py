"""Bad input gets an inline message next to its control, and the charts keep their last good data."""

R_GRAPHS = ("regression-loss-graph", "regression-grad-graph")
M_GRAPHS = ("multiclass-loss-graph", "multiclass-grad-graph", "multiclass-probability-graph",
            "multiclass-class-grad-graph")


def shown(lab, graphs, readout):
    return lab.snapshot(*graphs) + lab.text(readout)


def wait_message(lab, message_id, *fragments):
    def has_all():
        text = lab.text(message_id) or ""
        return text and all(f in text for f in fragments) and text
    text = lab.wait_until(has_all, f"#{message_id} to mention {fragments}")
    assert lab.duo.find_element(f"#{message_id}").is_displayed()
    return text


BAD_NUMBERS = [
    ("target", "abc", ("True value y", "abc", "not a number"), "2"),
    ("target", "NaN", ("True value y", "NaN", "not a finite number"), "3"),
    ("target", "", ("True value y", "empty"), "1"),
    ("delta", "-1", ("Huber delta", "-1", "out of range"), "2"),
    ("delta", "0", ("Huber delta", "0", "out of range"), "0.7"),
    ("prediction", "1e999", ("Current prediction", "not a finite number"), "0.25"),
]


def test_bad_numbers_keep_charts_and_show_message(lab):
    lab.open("/regression")
    before = shown(lab, R_GRAPHS, "regression-readout")
    url = lab.driver.current_url
    for box, typed, fragments, good in BAD_NUMBERS:
        lab.type_into(f"regression-{box}-input", typed)
        wait_message(lab, f"regression-{box}-message", *fragments)
        assert shown(lab, R_GRAPHS, "regression-readout") == before, f"charts changed after {typed!r} in {box}"
        assert lab.driver.current_url == url
        # A good value clears the message and the charts move on.
        lab.type_into(f"regression-{box}-input", good)
        lab.wait_until(lambda b=box: lab.text(f"regression-{b}-message") == "", f"the {box} message to clear")
        lab.wait_until(lambda old=before: shown(lab, R_GRAPHS, "regression-readout") != old,
                       f"the charts to follow {box}")
        lab.wait_until(lambda b=box, g=good: f"{b}={g}&" in lab.driver.current_url, f"URL {box}={good}")
        before = shown(lab, R_GRAPHS, "regression-readout")
        url = lab.driver.current_url
    assert lab.duo.get_logs() == []


def test_bad_logits_keep_charts_and_show_message(lab):
    lab.open("/multiclass", wait_for=M_GRAPHS)
    before = shown(lab, M_GRAPHS, "multiclass-stability-table")
    lab.type_into("multiclass-logits-input", "1,,2")
    wait_message(lab, "multiclass-logits-message", "1,,2", "empty entry")
    assert shown(lab, M_GRAPHS, "multiclass-stability-table") == before

    lab.paste_into("multiclass-logits-input", "1," * 5000)
    wait_message(lab, "multiclass-logits-message", "10000 characters")
    assert shown(lab, M_GRAPHS, "multiclass-stability-table") == before

    lab.type_into("multiclass-logits-input", "1, 2, abc")
    wait_message(lab, "multiclass-logits-message", "abc", "not a number")
    assert shown(lab, M_GRAPHS, "multiclass-stability-table") == before
    assert lab.duo.get_logs() == []


def test_unchecking_every_loss_shows_message_and_keeps_charts(lab):
    lab.open("/regression")

    def untick(key):
        lab.driver.find_element("xpath", f"//*[@id='regression-losses']//input[@value='{key}']/ancestor::label").click()

    for key in ("mae", "huber", "log_cosh"):
        untick(key)
    lab.wait_until(lambda: all(lab.curves(g) == ["mse"] for g in R_GRAPHS), "only MSE left on both charts")
    assert lab.text("regression-losses-message") == ""
    before = shown(lab, R_GRAPHS, "regression-readout")
    untick("mse")
    wait_message(lab, "regression-losses-message", "nothing is selected")
    assert shown(lab, R_GRAPHS, "regression-readout") == before
    untick("huber")
    lab.wait_until(lambda: lab.text("regression-losses-message") == "", "the message to clear")
    lab.wait_until(lambda: all(lab.curves(g) == ["huber"] for g in R_GRAPHS), "Huber drawn alone")
    assert lab.duo.get_logs() == []
