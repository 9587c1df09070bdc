from approver.proxy.framing import LineFramer, Oversized


def test_lines_are_returned_exactly_without_their_terminator() -> None:
    framer = LineFramer()
    assert framer.feed(b'{"a":1}\n{"b": "\\u00e9 x"}\n') == [b'{"a":1}', b'{"b": "\\u00e9 x"}']


def test_crlf_is_tolerated_and_blank_lines_are_skipped() -> None:
    framer = LineFramer()
    assert framer.feed(b'{"a":1}\r\n\r\n  \n{"b":2}\n') == [b'{"a":1}', b'{"b":2}']


def test_a_line_split_across_many_chunks_is_reassembled() -> None:
    framer = LineFramer()
    message = b'{"data":"' + b"x" * 100_000 + b'"}'
    frames: list[bytes | Oversized] = []
    for start in range(0, len(message), 4096):
        frames += framer.feed(message[start : start + 4096])
    assert frames == []
    assert framer.pending == len(message)
    assert framer.feed(b"\n") == [message]
    assert framer.pending == 0


def test_an_oversized_line_is_reported_once_and_skipped_to_its_end() -> None:
    framer = LineFramer(max_line=10)
    frames = framer.feed(b"0123456789ABCDEF")
    assert len(frames) == 1
    assert isinstance(frames[0], Oversized)
    assert frames[0].prefix.startswith(b"0123456789")
    assert framer.feed(b"more of the same line") == []
    assert framer.feed(b"tail\n{}\n") == [b"{}"]


def test_an_oversized_line_arriving_whole_is_reported() -> None:
    framer = LineFramer(max_line=4)
    frames = framer.feed(b"123456\n{}\n")
    assert isinstance(frames[0], Oversized)
    assert frames[1:] == [b"{}"]
