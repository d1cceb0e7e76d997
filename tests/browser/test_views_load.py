"""Each view opens at its path with its title, introduction and both linked charts drawn."""

VIEWS = {
    "/regression": ("regression", "Regression", "Compare regression losses"),
    "/binary": ("binary", "Binary classification", "A sigmoid turns the logit z"),
    "/multiclass": ("multiclass", "Multiclass (softmax)", "Edit the logits z"),
    "/": ("regression", "Regression", "Compare regression losses"),
}


def test_each_view_loads_at_its_path(lab):
    for path, (view, title, intro) in VIEWS.items():
        lab.open(path, wait_for=(f"{view}-loss-graph", f"{view}-grad-graph"))
        heading = lab.duo.find_element(".view h2")
        assert heading.text == title and heading.is_displayed(), path
        intro_el = lab.duo.find_element(".view .intro")
        assert intro_el.is_displayed() and intro_el.text.startswith(intro), path
        for graph in (f"{view}-loss-graph", f"{view}-grad-graph"):
            metas = lab.metas(graph)
            assert metas[-1] == "marker" and lab.curves(graph), (path, graph, metas)
            drawn = lab.js(
                "return document.querySelectorAll('#' + arguments[0] + ' .main-svg .scatterlayer .trace').length;",
                graph,
            )
            assert drawn == len(metas), (path, graph, drawn, metas)
            assert lab.duo.find_element(f"#{graph}").is_displayed(), (path, graph)
        active = lab.duo.find_element("#page-nav .nav-link.active")
        assert active.get_attribute("title") == f"{title} (current view)", path
        assert lab.text("url-notice") == "", path
    lab.open("/nowhere", wait_for=())
    lab.duo.wait_for_text_to_equal(".view h2", "No such view")
    assert "/nowhere" in lab.duo.find_element(".view").text
    assert lab.duo.get_logs() == []


def test_every_slider_handle_is_named_after_its_control(lab):
    lab.open("/regression")
    names = lab.js("return Array.from(document.querySelectorAll('[role=slider]'), (h) => h.getAttribute('aria-label'));")
    assert names == ["True value y", "Huber delta δ", "Quantile τ", "Smooth-L1 β", "Predicted variance σ²"]
    assert lab.duo.get_logs() == []
