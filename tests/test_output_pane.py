"""The output pane on its own: Markdown as it reads, at streaming speed, in cells as Rich counts them.

Most tests run the pane in a small app and read what it draws (``render_line``: segments and
their styles); the layout and the wrap are also checked directly where the property is
structural (an append re-lays out only the last line, a row never splits a grapheme).
"""

from __future__ import annotations

import random
from contextlib import asynccontextmanager

import pytest
from rich.cells import cell_len, split_graphemes
from textual.app import App, ComposeResult

from tests.driving import wait_for
from tui.widgets import markdown_blocks
from tui.widgets.markdown_blocks import MarkdownLayout, load_lexer, wait_for_lexers
from tui.widgets.output_pane import OutputPane
from tui.widgets.wrapping import fit, wrap

# Lexers load in a thread the first time their language appears; load the ones used here now,
# so that highlighting does not depend on timing (TestLexerLoading covers the loading itself).
for language in ("python", "bash", "sh"):
    load_lexer(language)


class PaneApp(App):
    CSS = "OutputPane { height: 1fr; }"

    def compose(self) -> ComposeResult:
        yield OutputPane()


def drawn(pane: OutputPane) -> list[str]:
    """The visible rows as text, trailing blanks dropped."""
    return [pane.render_line(y).text.rstrip() for y in range(pane.size.height)]


def segments_of(pane: OutputPane, y: int):
    return [segment for segment in pane.render_line(y) if segment.text.strip()]


def row_of(pane: OutputPane, needle: str) -> int:
    rows = drawn(pane)
    return next(y for y, text in enumerate(rows) if needle in text)


def segment_with(pane: OutputPane, text: str):
    y = row_of(pane, text)
    return next(segment for segment in segments_of(pane, y) if text in segment.text)


#: The pilot driving each open test app, to let it process what an append queued.
PILOTS: dict[App, object] = {}


@asynccontextmanager
async def showing(text: str | list[str], size=(80, 40), mode: str = "markdown", **attributes):
    """The pane of an app showing ``text`` (a list: appended piece by piece), ready to read."""
    app = PaneApp()
    async with app.run_test(size=size) as pilot:
        PILOTS[app] = pilot
        pane = app.query_one(OutputPane)
        for name, value in attributes.items():
            setattr(pane, name, value)
        pane.mode = mode
        await pilot.pause()
        for piece in [text] if isinstance(text, str) else text:
            pane.append(piece)
            await pilot.pause()
        try:
            yield pane
        finally:
            del PILOTS[app]


async def pause(pane: OutputPane) -> None:
    await PILOTS[pane.app].pause()


def splits(text: str, seed: int, count: int = 12) -> list[str]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(text)), min(count, len(text) - 1)))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]


def styled_rows(pane: OutputPane) -> list[list[tuple[str, object]]]:
    return [[(segment.text, segment.style) for segment in pane.render_line(y)] for y in range(pane.size.height)]


# -- Markdown constructs ---------------------------------------------------------------------------
class TestMarkdownLooks:
    """Each construct reads as Markdown: markers gone, the meaning styled."""

    async def test_headings_lose_their_hashes(self):
        async with showing("# Title ##\n\n## Second\n\n### Third\n") as pane:
            rows = drawn(pane)
            assert rows[:5] == ["Title", "", "Second", "", "Third"]
            title = segment_with(pane, "Title")
            assert title.style.bold and title.style.underline
            assert title.style.color == pane.get_component_rich_style("output-pane--heading").color
            assert segment_with(pane, "Second").style.bold

    async def test_bold_italic_strike_and_code_lose_their_markers(self):
        async with showing("a **bold** b *it* c _it2_ d ~~gone~~ e `code` f ***both***\n") as pane:
            assert drawn(pane)[0] == "a bold b it c it2 d gone e code f both"
            assert segment_with(pane, "bold").style.bold and not segment_with(pane, "bold").style.italic
            assert segment_with(pane, "it2").style.italic
            assert segment_with(pane, "gone").style.strike
            code = segment_with(pane, "code")
            assert code.style.color == pane.get_component_rich_style("output-pane--inline-code").color
            both = segment_with(pane, "both")
            assert both.style.bold and both.style.italic

    async def test_markers_inside_words_and_maths_stay(self):
        async with showing("snake_case_name and 2 * 3 and **unclosed\n") as pane:
            assert drawn(pane)[0] == "snake_case_name and 2 * 3 and **unclosed"

    async def test_links_show_their_text_and_the_url_dimmed(self):
        async with showing("see [the docs](https://example.com/d) or [local](file:///etc/x) <https://x.test>\n") as pane:
            assert drawn(pane)[0] == "see the docs (https://example.com/d) or local (file:///etc/x) https://x.test"
            text = segment_with(pane, "the docs")
            assert text.style.underline and text.style.link == "https://example.com/d"
            url = segment_with(pane, "https://example.com/d")
            assert url.style.color == pane.get_component_rich_style("output-pane--link-url").color
            assert segment_with(pane, "local").style.link is None  # OSC 8 only for http(s)
            assert segment_with(pane, "https://x.test").style.link == "https://x.test"

    async def test_lists_are_drawn_with_bullets_numbers_and_hanging_indents(self):
        text = "- one\n- two that is long enough to wrap onto a second row here\n  - nested\n- [x] done\n\n1. first\n2. second\n"
        async with showing(text, size=(40, 20)) as pane:
            assert drawn(pane)[:9] == [
                "• one",
                "• two that is long enough to wrap onto",
                "  a second row here",
                "  ◦ nested",
                "• ☑ done",
                "",
                "1. first",
                "2. second",
                "",
            ]
            bullet = segments_of(pane, 0)[0]
            assert bullet.text.strip() == "•" and bullet.style.color == pane.get_component_rich_style("output-pane--marker").color

    async def test_quotes_and_rules(self):
        async with showing("> quoted *words*\n> - item\n\n---\n\nafter\n", size=(30, 10)) as pane:
            rows = drawn(pane)
            assert rows[0] == "▎ quoted words" and rows[1] == "▎ • item"
            assert rows[3] == "─" * pane.scrollable_content_region.width
            assert segment_with(pane, "quoted").style.italic

    async def test_fenced_code_is_highlighted_without_its_fences(self):
        async with showing("```python\ndef f(x):\n    return x  # note\n```\nafter\n", size=(40, 10)) as pane:
            rows = drawn(pane)
            assert rows[:5] == [" python", " def f(x):", "     return x  # note", "", "after"]
            assert "```" not in "".join(rows)
            code_background = pane.get_component_rich_style("output-pane--code").bgcolor
            keyword = segment_with(pane, "def")
            name = next(segment for segment in segments_of(pane, 1) if segment.text == "f")
            assert keyword.style.color != name.style.color  # highlighted, not one colour
            assert keyword.style.bgcolor == code_background
            # The block's rows are filled to the column with the code background.
            last = pane.render_line(1)
            assert [segment for segment in last][-1].style.bgcolor == code_background

    async def test_code_wraps_indented_never_at_column_zero(self):
        code = "    value = compute(alpha, beta, gamma, delta, epsilon, zeta, eta, theta)"
        async with showing(f"```python\n{code}\n```\n", size=(30, 10)) as pane:
            rows = drawn(pane)
            body = rows[1 : rows.index("")]
            assert len(body) >= 3
            assert all(row.startswith(" " * 7) for row in body[1:])  # pad + own indent + hang
            assert "".join(row.strip() + " " for row in body).split() == code.split()

    async def test_tables_are_aligned(self):
        text = "| Name | Qty | Note |\n|:--|--:|:-:|\n| apple | 3 | `ok` |\n| kiwi fruit | 12 | **x** |\n"
        async with showing(text) as pane:
            rows = drawn(pane)
            assert rows[:6] == [
                "┌────────────┬─────┬──────┐",
                "│ Name       │ Qty │ Note │",
                "├────────────┼─────┼──────┤",
                "│ apple      │   3 │  ok  │",
                "│ kiwi fruit │  12 │  x   │",
                "└────────────┴─────┴──────┘",
            ]
            assert segment_with(pane, "Name").style.bold

    async def test_a_wide_table_shrinks_its_widest_column_and_wraps_cells(self):
        text = "| a | b |\n|---|---|\n| short | " + "long words " * 8 + "|\n"
        async with showing(text, size=(40, 20)) as pane:
            rows = [row for row in drawn(pane) if row]
            assert all(cell_len(row) <= 40 for row in rows)
            assert rows[0].startswith("┌") and rows[-1].startswith("└")
            assert len(rows) > 5  # the long cell took several rows


# -- streaming ------------------------------------------------------------------------------------
class TestStreaming:
    """Text cut anywhere draws exactly what it draws when it arrives whole."""

    SAMPLE = (
        "# Title\n\nSome **bold** and *italic* with `code` and [a link](https://a.test/x).\n\n"
        "- item **one**\n- item two\n  - nested\n\n1. first\n2. second\n\n> quote\n\n---\n\n"
        "```python\ndef f(x):\n    return x\n```\n\n| a | b |\n|---|--:|\n| 1 | 22 |\n| 333 | 4 |\n\nThe end.\n"
    )

    @pytest.mark.parametrize("seed", range(3))
    async def test_random_cuts_draw_the_same_as_one_append(self, seed):
        async with showing(self.SAMPLE) as whole:
            async with showing(splits(self.SAMPLE, seed, count=40)) as cut:
                assert styled_rows(cut) == styled_rows(whole)

    async def test_bold_split_inside_its_markers(self):
        async with showing(["say *", "*bo", "ld*", "* now"]) as pane:
            assert drawn(pane)[0] == "say bold now"
            assert segment_with(pane, "bold").style.bold

    async def test_a_marker_at_the_end_of_an_append_is_not_flashed(self):
        async with showing(["say **"]) as pane:
            assert drawn(pane)[0] == "say"
            pane.append("bold")
            await pause(pane)
            assert drawn(pane)[0] == "say bold" and segment_with(pane, "bold").style.bold

    async def test_a_fence_split_mid_marker_and_mid_line(self):
        pieces = ["text\n`", "``py", "thon\nx = ", "1\n`", "`", "`\nafter\n"]
        async with showing("".join(pieces), size=(40, 10)) as whole:
            async with showing(pieces, size=(40, 10)) as cut:
                assert drawn(cut)[:5] == ["text", " python", " x = 1", "", "after"]
                assert styled_rows(cut) == styled_rows(whole)

    async def test_an_open_fence_is_drawn_as_code_while_it_streams(self):
        async with showing(["```python\nimport os\npri", "nt(os"], size=(40, 10)) as pane:
            assert drawn(pane)[:3] == [" python", " import os", " print(os"]
            assert segment_with(pane, "import").style.color != segment_with(pane, "os").style.color

    async def test_a_table_arriving_row_by_row_is_aligned_as_rows_complete(self):
        async with showing(["| name | n |\n", "|---|---|\n", "| apple | 1 |\n", "| kiwi fruit | 2"]) as pane:
            rows = drawn(pane)
            assert rows[:5] == ["┌───────┬───┐", "│ name  │ n │", "├───────┼───┤", "│ apple │ 1 │", "└───────┴───┘"]
            assert rows[5] == "| kiwi fruit | 2"  # the row still arriving, raw
            pane.append(" |\n")
            await pause(pane)
            assert drawn(pane)[3:6] == ["│ apple      │ 1 │", "│ kiwi fruit │ 2 │", "└────────────┴───┘"]

    async def test_a_link_arriving_shows_its_text_then_its_url(self):
        async with showing(["go [docs](https://d.te"]) as pane:
            assert drawn(pane)[0] == "go docs (https://d.te)"
            pane.append("st) now")
            await pause(pane)
            assert drawn(pane)[0] == "go docs (https://d.test) now"
            assert segment_with(pane, "docs").style.link == "https://d.test"


class TestAppendCost:
    """One append re-lays out the line still arriving, never what came before."""

    def test_an_append_changes_rows_of_the_last_line_only(self):
        layout = MarkdownLayout(60)
        layout.append("# Head\n\n" + "A paragraph of words. " * 200 + "\n\n- item\n\n" + "Last paragraph that goes on. " * 50)
        rows_before = layout.row_count
        frozen = list(layout.lines[:-1])
        first_row_of_last_line = layout.line_rows[-1]
        kept = [(layout.row_start[r], layout.row_end[r]) for r in range(rows_before - 1)]
        changed = layout.append("more words arrive")
        assert changed >= rows_before - 2 and changed > first_row_of_last_line
        assert layout.lines[:-1] == frozen  # the very same frozen lines
        assert [(layout.row_start[r], layout.row_end[r]) for r in range(rows_before - 1)] == kept

    def test_a_long_line_is_scanned_once_not_again_per_append(self):
        layout = MarkdownLayout(40)
        for number in range(2000):
            layout.append(f"tok{number} **b{number}** ")
        line = layout.lines[-1]
        assert layout.row_count > 300
        assert line.text.startswith("tok0 b0 tok1 b1")
        assert len(line.run_starts) == 4001  # plain, bold, plain, bold… plain: nothing scanned twice
        assert layout._open is not None and layout._open.position > len(line.text)

    def test_finished_blocks_are_not_styled_again(self):
        layout = MarkdownLayout(60)
        layout.append("```python\nx = 1\n```\n\n| a |\n|---|\n| 1 |\n\nnext ")
        frozen = [(line.text, bytes(line.run_styles)) for line in layout.lines[:-1]]
        for number in range(50):
            changed = layout.append(f"word{number} ")
            assert changed >= layout.line_rows[-1] - 1
        assert [(line.text, bytes(line.run_styles)) for line in layout.lines[: len(frozen)]] == frozen


# -- reading width, raw view, hostile text -------------------------------------------------------
class TestReadingWidth:
    async def test_prose_wraps_at_the_reading_width_centred(self):
        async with showing("word " * 100, size=(160, 20)) as pane:
            assert pane.reading_width == 100 and pane.reading_align == "center"
            rows = [pane.render_line(y).text for y in range(4)]
            offset = (pane.scrollable_content_region.width - 100) // 2
            assert offset > 0
            for row in rows[:3]:
                assert row[:offset] == " " * offset
                assert len(row[offset:].rstrip()) <= 100
                assert row[offset] == "w"

    async def test_left_aligned_or_none(self):
        async with showing("word " * 100, size=(160, 20), reading_align="left") as pane:
            assert pane.render_line(0).text.startswith("word")
            assert len(pane.render_line(0).text.rstrip()) <= 100
            pane.reading_width = None
            await pause(pane)
            assert len(pane.render_line(0).text.rstrip()) > 140

    async def test_narrow_panes_use_their_whole_width(self):
        async with showing("word " * 40, size=(50, 10)) as pane:
            assert pane.render_line(0).text.startswith("word") and len(pane.render_line(0).text.rstrip()) > 40


class TestRawView:
    async def test_raw_view_alternates_chunk_shades_and_keeps_markers(self):
        async with showing(["**a", "bb", "cc**"], mode="raw") as pane:
            segments = segments_of(pane, 0)
            assert [segment.text for segment in segments] == ["**a", "bb", "cc**"]
            shades = [(segment.style.color, segment.style.bgcolor) for segment in segments]  # (each also says where it is)
            assert shades[0] != shades[1] and shades[0] == shades[2]

    async def test_switching_views_shows_the_same_text(self):
        async with showing("# T\n\n- x\n", mode="raw") as pane:
            assert drawn(pane)[:3] == ["# T", "", "- x"]
            pane.mode = "markdown"
            await pause(pane)
            assert drawn(pane)[:3] == ["T", "", "• x"]
            assert pane.text == "# T\n\n- x\n"


class TestHostileText:
    async def test_rich_markup_and_escape_sequences_are_drawn_literally(self):
        hostile = "[bold]x[/] [link=http://e.vil]y[/link] \x1b[31mred\x1b[0m \x07 **[red]z[/red]**"
        async with showing(hostile + "\n") as pane:
            row = pane.render_line(0)
            assert row.text.rstrip() == "[bold]x[/] [link=http://e.vil]y[/link] ␛[31mred␛[0m ␇ [red]z[/red]"
            assert all(segment.style.link is None for segment in row)
            assert not any(segment.style.color and segment.style.color.name == "red" for segment in row)
            assert "\x1b" not in pane.text

    async def test_a_hostile_link_destination_is_not_a_hyperlink(self):
        async with showing("[click](javascript:alert(1)) and [x](http://ok.test/\x1b[2J)\n") as pane:
            row = pane.render_line(0)
            assert all(segment.style.link in (None, "http://ok.test/␛[2J") for segment in row)
            assert "\x1b" not in row.text


# -- cells ----------------------------------------------------------------------------------------
GRAPHEMES = {
    "thumbs up, skin tone": "👍🏽",
    "ZWJ family": "👨\u200d👩\u200d👧",
    "flag": "🇫🇷",
    "e + combining acute": "e\u0301",
    "CJK": "漢字",
}


class TestCells:
    @pytest.mark.parametrize("name", GRAPHEMES)
    def test_fit_measures_as_rich_does(self, name):
        text = ("ab " + GRAPHEMES[name]) * 30
        position = 0
        while position < len(text):
            end, cells = fit(text, position, 7)
            assert cells == cell_len(text[position:end]) <= 7
            assert end > position
            position = end

    @pytest.mark.parametrize("name", GRAPHEMES)
    def test_rows_never_split_a_grapheme(self, name):
        text = (GRAPHEMES[name] + "x" + GRAPHEMES[name]) * 40
        boundaries = {start for start, _end, _cells in split_graphemes(text)[0]} | {len(text)}
        for width in (3, 4, 7):
            for start, end in wrap(text, 0, width):
                assert start in boundaries and end in boundaries
                assert cell_len(text[start:end]) <= width

    def test_a_zwj_family_is_two_cells_not_six(self):
        family = "👨\u200d👩\u200d👧"
        assert wrap(family * 10, 0, 20) == [(0, len(family) * 10)]

    @pytest.mark.parametrize("mode", ["markdown", "raw"])
    async def test_drawn_rows_fit_the_pane_and_lose_nothing(self, mode):
        words = [f"w{index}{GRAPHEMES[name]}" for index, name in enumerate(list(GRAPHEMES) * 6)]
        text = " ".join(words)
        async with showing(text, size=(17, 40), mode=mode) as pane:
            width = pane.scrollable_content_region.width
            rows = [pane.render_line(y) for y in range(pane.row_count)]
            for strip in rows:
                assert strip.cell_length == width
                assert sum(cell_len(segment.text) for segment in strip) == width
            assert "".join(strip.text.rstrip() + " " for strip in rows).split() == words

    async def test_wide_characters_in_a_table_and_a_code_block_fit(self):
        text = "| 名前 | 👍🏽 |\n|---|---|\n| 漢字テキスト | 🇫🇷 e\u0301 |\n\n```\n" + "漢字" * 20 + "\n```\n"
        async with showing(text, size=(30, 30)) as pane:
            width = pane.scrollable_content_region.width
            layout = pane._markdown
            for row in range(pane.row_count):
                assert cell_len(layout.row_text(row)) <= width
            assert "│ 漢字テキスト │" in drawn(pane)[3]


# -- the last code block -------------------------------------------------------------------------
class TestLastCodeBlock:
    async def test_the_last_fenced_block_as_written(self):
        async with showing("```sh\nfirst\n```\n\ntext\n\n```python\ndef f():\n\n    return 1\n```\n\nafter\n") as pane:
            assert pane.last_code_block() == "def f():\n\n    return 1"
            assert pane.text.startswith("```sh\nfirst")

    async def test_while_it_streams_and_in_the_raw_view(self):
        async with showing(["no code yet\n"]) as pane:
            assert pane.last_code_block() is None
            pane.append("```\nline one\nline t")
            await pause(pane)
            assert pane.last_code_block() == "line one\nline t"
            pane.mode = "raw"
            await pause(pane)
            assert pane.last_code_block() == "line one\nline t"

    async def test_indented_fences_in_lists_keep_the_code_as_written(self):
        async with showing("1. Install:\n   ```bash\n   pip install x\n     --upgrade\n   ```\n2. Run\n", size=(40, 10)) as pane:
            assert pane.last_code_block() == "pip install x\n  --upgrade"
            assert drawn(pane)[:6] == ["1. Install:", "    bash", "    pip install x", "      --upgrade", "", "2. Run"]


class TestFinish:
    """``finish()``: the answer ended, so its last line is complete even without a newline."""

    async def test_an_undecided_last_line_is_drawn_once_finished(self):
        async with showing("text\n\n---") as pane:
            rule = "─" * pane.scrollable_content_region.width
            assert drawn(pane)[:3] == ["text", "", ""]  # "---" may still become "--- more"
            pane.finish()
            await pause(pane)
            assert drawn(pane)[:3] == ["text", "", rule]
            pane.append("\nmore\n")  # text after finishing: laid out again with the rest
            await pause(pane)
            assert drawn(pane)[:4] == ["text", "", rule, "more"]

    async def test_a_trailing_marker_shows_once_finished(self):
        async with showing("it costs 2*") as pane:
            assert drawn(pane)[0] == "it costs 2"  # a marker at the end waits for the next chunk
            pane.finish()
            await pause(pane)
            assert drawn(pane)[0] == "it costs 2*"

    async def test_a_closing_fence_without_newline_closes_its_block(self):
        async with showing(['```python\n', 's = """a\n', 'end"""\n', "```"], size=(40, 10)) as pane:
            # Streaming, each append's lines are lexed on their own: end""" is a name, then a string.
            assert segment_with(pane, "end").style.color != segment_with(pane, '"""a').style.color
            rows_open = pane.row_count
            pane.finish()
            await pause(pane)
            assert pane.row_count == rows_open + 1  # the block's bottom row
            # Lexed whole once closed: the second line is inside the string.
            assert segment_with(pane, 'end"""').style.color == segment_with(pane, '"""a').style.color
            pane.mode = "raw"
            await pause(pane)
            pane.mode = "markdown"
            await pause(pane)
            assert pane.row_count == rows_open + 1  # still finished after a new layout

    async def test_a_delimiter_row_needs_a_pipe(self):
        async with showing("| a |\n---\n\nx\n") as pane:
            assert drawn(pane)[:2] == ["| a |", "─" * pane.scrollable_content_region.width]


class TestLexerLoading:
    """A language's first code block is drawn plain while its lexer loads, then highlighted."""

    @staticmethod
    def forget(language: str) -> None:
        markdown_blocks._loaded_lexers.pop(language, None)
        markdown_blocks._loading.pop(language, None)

    def test_a_block_waits_for_its_lexer_then_is_highlighted_whole(self):
        self.forget("haskell")
        layout = MarkdownLayout(40)
        layout.append("```haskell\nmain = putStrLn \"hi\"\n```\n\nafter")
        code = layout.lines[1]
        assert layout.waiting_for_lexers and len(set(code.run_styles)) == 1  # plain for now
        wait_for_lexers()
        changed = layout.adopt_lexers()
        assert not layout.waiting_for_lexers
        assert changed == layout.line_rows[1] and len(set(code.run_styles)) > 1

    async def test_the_pane_highlights_it_without_more_text(self):
        self.forget("haskell")
        async with showing("```haskell\nmain = putStrLn \"hi\"\n```\n") as pane:
            assert segment_with(pane, "main").style.color == segment_with(pane, "putStrLn").style.color
            wait_for_lexers()
            await wait_for(PILOTS[pane.app], lambda: segment_with(pane, "main").style.color != segment_with(pane, '"hi"').style.color)

    def test_an_unknown_language_is_plain_code(self):
        layout = MarkdownLayout(40)
        layout.append("```no-such-language\nx = 1\n```\n")
        wait_for_lexers()
        layout.adopt_lexers()
        assert not layout.waiting_for_lexers
        assert layout.row_text(0) == " no-such-language" and set(layout.lines[1].run_styles) == {markdown_blocks.CODE_STYLE}


class TestLexingBounds:
    """Highlighting cannot stall the stream: a huge code line is lexed once it ends, if at all."""

    def test_a_huge_code_line_streams_plain_without_relexing(self, monkeypatch):
        lexed: list[int] = []
        real = markdown_blocks.highlight
        monkeypatch.setattr(markdown_blocks, "highlight", lambda lexer, lines: lexed.append(sum(map(len, lines))) or real(lexer, lines))
        layout = MarkdownLayout(80)
        layout.append("```python\nx = 1\n")
        for _ in range(100):
            layout.append("[1, 2, 3] + " * 50)  # one line growing to 60,000 characters
        assert sum(lexed) < 10 * markdown_blocks.PARTIAL_LEX_LIMIT
        layout.append("\n```\n")
        assert sum(lexed) < 20 * markdown_blocks.PARTIAL_LEX_LIMIT  # the 60 KB line stays plain
        assert set(layout.lines[2].run_styles) == {markdown_blocks.CODE_STYLE}
        assert len(set(layout.lines[1].run_styles)) > 1  # its short neighbour is highlighted


class TestFollowingTheEnd:
    """The view follows the end until the reader scrolls up, however appends and refreshes interleave."""

    async def test_two_appends_before_a_refresh_keep_following(self):
        async with showing("".join(f"line {number}\n" for number in range(60)), size=(40, 12)) as pane:
            assert pane.scroll_offset.y == pane.max_scroll_y > 0
            pane.append("first of two\n")
            pane.append("second of two\n")  # no refresh in between
            await pause(pane)
            pane.append("after them\n")
            await pause(pane)
            assert pane.scroll_offset.y == pane.max_scroll_y
            assert "after them" in drawn(pane)

    async def test_scrolled_up_it_stays_and_back_at_the_end_it_follows(self):
        async with showing("".join(f"line {number}\n" for number in range(60)), size=(40, 12)) as pane:
            pane.scroll_to(y=5, animate=False)
            await pause(pane)
            pane.append("more\n" * 5)
            await pause(pane)
            assert pane.scroll_offset.y == 5
            pane.scroll_end(animate=False)
            await pause(pane)
            pane.append("latest\n")
            await pause(pane)
            assert pane.scroll_offset.y == pane.max_scroll_y and "latest" in drawn(pane)


    async def test_a_growing_answer_scrolls_a_few_rows_at_a_time_and_ends_flush(self):
        # A scroll repaints the whole pane: a stream scrolls once every few rows, not every row.
        async with showing("".join(f"line {number}\n" for number in range(60)), size=(40, 26)) as pane:
            scrolls = 0
            for number in range(60, 100):
                before = pane.scroll_offset.y
                pane.append(f"line {number}\n")
                await pause(pane)
                scrolls += pane.scroll_offset.y != before
                assert f"line {number}" in drawn(pane) and pane.scroll_offset.y == pane.max_scroll_y
            assert scrolls <= 40 // 4 + 1
            pane.append("the end")
            pane.finish()
            await pause(pane)
            assert drawn(pane)[-1] == "the end"  # no blank rows left below the finished answer
            assert pane.scroll_offset.y == pane.max_scroll_y

    @pytest.mark.parametrize("action", ["page_up", "scroll_home", "scroll_up"])
    async def test_a_key_that_scrolls_up_stays_up_when_text_comes_before_the_scroll(self, action):
        # A key's scroll waits for the next refresh: a chunk appended before it found the view
        # still following and pulled it back to the end (seen in a try-out, 2 PageUps in 20).
        async with showing("".join(f"line {number}\n" for number in range(200)), size=(40, 12)) as pane:
            pane.focus()
            await pause(pane)
            end = pane.max_scroll_y
            await pane.run_action(action)  # what the key runs, with a chunk right behind it
            pane.append("more\n")
            await pause(pane)
            assert pane.scroll_offset.y < end
            if action == "scroll_home":
                assert pane.scroll_offset.y == 0  # there at once: no animation to wait out

    async def test_a_page_up_with_nothing_to_scroll_keeps_following(self):
        # The answer fits: PageUp asks for a y below 0, which is no scroll up at all.
        async with showing("a short answer\n", size=(40, 12)) as pane:
            pane.scroll_page_up()  # as the screen's PageUp from the prompt does
            pane.append("".join(f"line {number}\n" for number in range(40)))
            await pause(pane)
            assert pane.scroll_offset.y == pane.max_scroll_y > 0 and "line 39" in drawn(pane)
            assert not pane.border_subtitle

    async def test_end_follows_again_at_once_while_text_comes(self):
        # End animated for a second to where the end had been; the answer grew meanwhile and the
        # view stopped short of it, not following.
        async with showing("".join(f"line {number}\n" for number in range(200)), size=(40, 12)) as pane:
            pane.focus()
            await pane.run_action("scroll_home")
            await pause(pane)
            await pane.run_action("scroll_end")
            for number in range(5):
                pane.append(f"more {number}\n")
                await pause(pane)
            assert pane.scroll_offset.y == pane.max_scroll_y and "more 4" in drawn(pane)

    async def test_a_small_view_scrolls_every_row(self):
        async with showing("".join(f"line {number}\n" for number in range(30)), size=(40, 8)) as pane:
            for number in range(30, 40):
                before = pane.scroll_offset.y
                pane.append(f"line {number}\n")
                await pause(pane)
                assert pane.scroll_offset.y == before + 1 and drawn(pane)[-1] == f"line {number}"


class TestNotes:
    """What the pane says besides the answer wraps to its width: nothing is cut off at 80 columns."""

    async def test_a_long_notice_wraps(self):
        notice = "Type a prompt below and press Ctrl+J to send it; F1 lists every key, Ctrl+P the commands."
        async with showing("", size=(40, 10)) as pane:
            pane.set_notice(notice)
            await pause(pane)
            assert " ".join(" ".join(drawn(pane)).split()) == notice

    async def test_the_end_note_follows_the_partial_text_wrapped(self):
        note = "Failed: the connection dropped after 3 chunks (the server closed it mid-stream); the partial text is kept."
        async with showing("partial answer\n", size=(40, 12)) as pane:
            pane.set_end_note(note, failed=True)
            await pause(pane)
            text = "\n".join(drawn(pane))
            assert text.index("partial answer") < text.index("Failed:")
            assert " ".join(text.split()).endswith(note)
            pane.clear()
            await pause(pane)
            assert "Failed" not in "".join(drawn(pane))


class TestLead:
    """The prompt above its answer, after a conversation's earlier turns."""

    async def test_the_prompt_shows_above_the_answer_and_earlier_turns_above_it(self):
        async with showing("", size=(50, 20)) as pane:
            pane.set_lead("And its population?", [("What is the capital of France?", "**Paris**.")])
            pane.append("About 2.1 million.")
            await pause(pane)
            rows = drawn(pane)
            text = "\n".join(rows)
            assert text.index("› What is the capital") < text.index("Paris.") < text.index("› And its population?") < text.index("About 2.1")
            assert "**" not in text  # the earlier answer reads as Markdown too
            assert rows[pane.lead_rows] == "About 2.1 million."

    async def test_a_long_conversation_draws_its_last_turns_and_says_how_many_more(self):
        from tui.widgets.output_pane import LEAD_TURNS

        async with showing("", size=(50, 80)) as pane:
            pane.set_lead("now", [(f"question {n}", f"answer {n}") for n in range(LEAD_TURNS + 3)])
            await pause(pane)
            text = "\n".join(drawn(pane))
            assert "3 earlier turns" in text and "question 2\n" not in text and f"question {LEAD_TURNS + 2}" in text

    async def test_clear_takes_the_lead_away(self):
        async with showing("", size=(50, 10)) as pane:
            pane.set_lead("asked")
            await pause(pane)
            assert "› asked" in drawn(pane)[0]
            pane.clear("waiting")
            await pause(pane)
            assert drawn(pane)[0] == "waiting"


# -- text selection ---------------------------------------------------------------------------
class TestSelection:
    """Drag with the mouse over the pane, as in any Textual widget: the rows under the drag are
    highlighted, and the screen's copy (Ctrl+C) takes the text as it reads on screen."""

    async def test_a_drag_selects_the_text_drawn_under_it(self):
        async with showing("# Title\n\nFirst paragraph here.\n\nSecond one.\n", size=(60, 12)) as pane:
            pilot = PILOTS[pane.app]
            rows = drawn(pane)
            first = row_of(pane, "First paragraph")
            await pilot.mouse_down(pane, offset=(0, first))
            await pilot.hover(pane, offset=(5, first + 2))
            await pilot.mouse_up(pane, offset=(5, first + 2))
            await pilot.pause()
            selected = pane.screen.get_selected_text()
            assert selected is not None, rows
            assert selected.startswith("First paragraph here."), selected
            assert selected.rstrip().endswith("Second"), selected  # the cell under the mouse is in
            highlight = pane.screen.get_component_rich_style("screen--selection")
            styles = [segment.style for segment in pane.render_line(first) if segment.text.strip()]
            assert styles and all(highlight.bgcolor == style.bgcolor for style in styles if style is not None)

    async def test_a_selection_over_wide_characters_highlights_what_it_copies(self):
        """The selection counts characters, the row is cut in cells: with CJK text the highlight
        sat off the selected characters (and a wide character cut in two turned to spaces)."""
        async with showing("漢字かな交じり文 and ascii\n", size=(60, 8)) as pane:
            from textual.geometry import Offset
            from textual.selection import Selection

            y = row_of(pane, "漢字")
            pane.screen.selections = {pane: Selection(Offset(2, y), Offset(5, y))}
            await pause(pane)
            highlight = pane.screen.get_component_rich_style("screen--selection").bgcolor
            chosen = "".join(segment.text for segment in pane.render_line(y) if segment.style is not None and segment.style.bgcolor == highlight)
            assert chosen == pane.screen.get_selected_text() == "かな交", (chosen, pane.screen.get_selected_text())
