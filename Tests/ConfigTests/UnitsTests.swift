import Testing
@testable import Config

@Suite struct UnitsTests {
    @Test(arguments: [
        ("10s", 10_000), ("500ms", 500), ("2m", 120_000), ("1h", 3_600_000), ("1.5s", 1_500),
        ("0.25s", 250), ("0s", 0), ("1.5m", 90_000), ("0.001s", 1), ("1.5ms", nil), ("24h", 86_400_000),
    ] as [(String, Int64?)])
    func durations(text: String, milliseconds: Int64?) {
        #expect((try? DurationSyntax.parse(text)) == milliseconds)
    }

    @Test(arguments: [
        ("10", "'10' has no unit; write 10s for seconds or 10ms for milliseconds"),
        ("1.5", "'1.5' has no unit; write 1.5s for seconds"),
        ("-1s", "'-1s' is negative"),
        ("10us", "'10us' is finer than tether's resolution of 1ms"),
        ("1.0005s", "'1.0005s' is finer than tether's resolution of 1ms"),
        ("1.5ms", "'1.5ms' is finer than tether's resolution of 1ms"),
        ("2d", "'2d': write days in hours, for example 24h"),
        ("10 s", "'10 s': write the unit right after the number, as in 10s"),
        ("1m30s", "'1m30s' has an unknown unit 'm30s'; expected ms, s, m or h"),
        ("10x", "'10x' has an unknown unit 'x'; expected ms, s, m or h"),
        ("s", "'s' is not a duration: expected a number and a unit (ms, s, m or h), for example 10s, 500ms or 1.5s"),
        ("1.s", "'1.s' is not a duration: expected a number and a unit (ms, s, m or h), for example 10s, 500ms or 1.5s"),
        (".5s", "'.5s' is not a duration: expected a number and a unit (ms, s, m or h), for example 10s, 500ms or 1.5s"),
        ("", "is empty; write a duration such as 10s"),
        ("9999999999s", "'9999999999s' is too large"),
    ])
    func durationErrors(text: String, message: String) {
        #expect(throws: ValueProblem(message)) { try DurationSyntax.parse(text) }
    }

    @Test(arguments: [
        ("4096", 4096), ("4096B", 4096), ("32KiB", 32_768), ("1MiB", 1_048_576), ("1GiB", 1 << 30), ("0", 0),
    ])
    func sizes(text: String, bytes: Int) throws {
        #expect(try SizeSyntax.parse(text) == bytes)
    }

    @Test(arguments: [
        ("32KB", "'32KB' has an ambiguous unit 'KB'; write 32KiB or a number of bytes"),
        ("32k", "'32k' has an ambiguous unit 'k'; write 32KiB or a number of bytes"),
        ("1M", "'1M' has an ambiguous unit 'M'; write 1MiB or a number of bytes"),
        ("64b", "'64b' has an ambiguous unit 'b'; write 64B or a number of bytes"),
        ("1.5KiB", "'1.5KiB' is not a whole number; write it in a smaller unit"),
        ("-1KiB", "'-1KiB' is negative"),
        ("KiB", "'KiB' is not a size: expected a number of bytes, optionally with B, KiB, MiB or GiB, for example 32KiB"),
        ("1TiB", "'1TiB' has an unknown unit 'TiB'; expected a number of bytes, optionally with B, KiB, MiB or GiB, for example 32KiB"),
        ("9999999999999", "'9999999999999' is too large"),
        ("", "is empty; write a size such as 32KiB"),
    ])
    func sizeErrors(text: String, message: String) {
        #expect(throws: ValueProblem(message)) { try SizeSyntax.parse(text) }
    }

    @Test(arguments: [(0, "0s"), (1, "1ms"), (1_500, "1500ms"), (90_000, "90s"), (120_000, "2m"), (3_600_000, "1h")]
          as [(Int64, String)])
    func durationFormat(ms: Int64, text: String) {
        #expect(DurationSyntax.format(milliseconds: ms) == text)
    }

    @Test(arguments: [(1000, "1000"), (1024, "1KiB"), (32_768, "32KiB"), (1_048_576, "1MiB"), (1536, "1536")])
    func sizeFormat(bytes: Int, text: String) {
        #expect(SizeSyntax.format(bytes: bytes) == text)
    }
}
