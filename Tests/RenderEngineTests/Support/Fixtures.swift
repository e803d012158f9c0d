import Foundation

/// Edge-case inputs generated at test time from real photos and known patterns.
enum Fixtures {
    /// An upright 600x800 test card: red top-left, green top-right, blue bottom-left,
    /// white bottom-right. Orientation checks read these quadrants back.
    static func quadrants(in directory: String, width: Int = 600, height: Int = 800) throws -> String {
        var ppm = Data("P6\n\(width) \(height)\n255\n".utf8)
        for y in 0..<height {
            for x in 0..<width {
                let colour: [UInt8] =
                    switch (x < width / 2, y < height / 2) {
                    case (true, true): [220, 30, 30]
                    case (false, true): [30, 200, 40]
                    case (true, false): [30, 40, 220]
                    case (false, false): [250, 250, 250]
                    }
                ppm.append(contentsOf: colour)
            }
        }
        let path = "\(directory)/quadrants.ppm"
        try ppm.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A full-length portrait, 500x1200 PNG (taller than any preset): a pale wall, a
    /// skin-coloured face (an ellipse) from row 110 to 290 above a dark suit that fills the rest.
    static func standingFigure(in directory: String) throws -> String {
        try png("standing", width: 500, height: 1200, in: directory) { x, y in
            let dx = Double(x - 250) / 70, dy = Double(y - 200) / 90
            return if dx * dx + dy * dy <= 1 { [224, 172, 140] } else if y > 300 && abs(x - 250) < 200 { [28, 30, 38] } else { [214, 218, 222] }
        }
    }

    /// A JPEG whose stored pixels, shown with EXIF `orientation`, are the upright test card.
    static func oriented(_ orientation: Int, in directory: String) throws -> String {
        let upright = try quadrants(in: directory)
        // The inverse of what a viewer applies for each orientation.
        let steps: [[String]] =
            switch orientation {
            case 1: []
            case 2: [["flip", "horizontal"]]
            case 3: [["rot", "d180"]]
            case 4: [["flip", "vertical"]]
            case 5: [["rot", "d90"], ["flip", "horizontal"]]
            case 6: [["rot", "d270"]]
            case 7: [["rot", "d270"], ["flip", "horizontal"]]
            case 8: [["rot", "d90"]]
            default: []
            }
        var current = upright
        for (index, step) in steps.enumerated() {
            let next = "\(directory)/step-\(orientation)-\(index).v"
            try Tools.run("vips", [step[0], current, next, step[1]])
            current = next
        }
        let jpeg = "\(directory)/oriented-\(orientation).jpg"
        try Tools.run("vips", ["copy", current, "\(jpeg)[Q=95,strip]"])
        try Tools.run("exiftool", ["-q", "-overwrite_original", "-Orientation#=\(orientation)", jpeg])
        return jpeg
    }

    static func converted(_ source: String, to name: String, in directory: String, _ vipsArguments: [String]) throws -> String {
        let path = "\(directory)/\(name)"
        try Tools.run("vips", vipsArguments.map { $0.replacingOccurrences(of: "{in}", with: source).replacingOccurrences(of: "{out}", with: path) })
        return path
    }

    static func cmykJPEG(_ source: String, in directory: String, embedProfile: Bool = true) throws -> String {
        let path = try converted(source, to: "cmyk-profiled.jpg", in: directory, ["icc_transform", "{in}", "{out}", "cmyk", "--input-profile", "srgb"])
        if embedProfile { return path }
        return try converted(path, to: "cmyk-bare.jpg", in: directory, ["copy", "{in}", "{out}[strip]"])
    }

    /// A copy with only the first half of its bytes.
    static func truncated(_ source: String, in directory: String) throws -> String {
        let data = try Data(contentsOf: URL(fileURLWithPath: source))
        let path = "\(directory)/truncated.\(URL(fileURLWithPath: source).pathExtension)"
        try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A small, valid JPEG whose frame header claims 60000x60000 pixels.
    static func bomb(in directory: String) throws -> String {
        let small = "\(directory)/small.jpg"
        try Tools.run("vips", ["black", "\(directory)/black.v", "64", "64", "--bands", "3"])
        try Tools.run("vips", ["copy", "\(directory)/black.v", "\(small)[strip]"])
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: small)))
        guard let sof = (0..<(bytes.count - 9)).first(where: { bytes[$0] == 0xFF && (bytes[$0 + 1] == 0xC0 || bytes[$0 + 1] == 0xC2) }) else {
            throw Tools.Failure(description: "no SOF marker")
        }
        // FFC0, length (2), precision (1), height (2), width (2)
        bytes[sof + 5] = 0xEA
        bytes[sof + 6] = 0x60
        bytes[sof + 7] = 0xEA
        bytes[sof + 8] = 0x60
        let path = "\(directory)/bomb.jpg"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A 900x1200 PNG: a blue square (250..<650 x 400..<800) on a warm flat background, with
    /// optional deterministic noise of ±`noise` levels (texture to be flattened).
    static func square(in directory: String, noise: Int = 0) throws -> String {
        var jitter = Jitter(seed: 12345)
        return try png("square-\(noise)", width: 900, height: 1200, in: directory) { x, y in
            let inside = x >= 250 && x < 650 && y >= 400 && y < 800
            let base: [Int] = inside ? [70, 110, 200] : [235, 200, 120]
            return base.map { UInt8(min(max($0 + (noise > 0 ? jitter.next(noise) : 0), 0), 255)) }
        }
    }

    /// A clear sky, 1200x900 PNG: blue deepening away from a light upper corner (the lines of
    /// equal brightness are arcs round it), with ±2 levels of deterministic noise.
    static func sky(in directory: String) throws -> String {
        var jitter = Jitter(seed: 2024)
        return try png("sky", width: 1200, height: 900, in: directory) { x, y in
            let t = min(1, (Double(x * x + y * y)).squareRoot() / 1500)
            return [(225.0, 70.0), (235.0, 130.0), (245.0, 215.0)].map { light, deep in
                UInt8(min(max(Int((light + (deep - light) * t).rounded()) + jitter.next(2), 0), 255))
            }
        }
    }

    /// A ploughed field, 1600x1200 PNG: horizontal furrows 40 px apart in ochre, with ±32
    /// levels of deterministic noise, so all of it is busy surround with one clear form.
    static func furrows(in directory: String) throws -> String {
        var jitter = Jitter(seed: 4040)
        return try png("furrows", width: 1600, height: 1200, in: directory) { _, y in
            let furrow = 0.75 * (0.5 + 0.25 * sin(2 * Double.pi * Double(y) / 40)) * 255 + Double(jitter.next(32))
            let grey = min(max(furrow, 0), 255)
            return [0.9, 0.8, 0.55].map { UInt8(grey * $0) }
        }
    }

    /// A grey subject (not skin-coloured, like a cat's head) in the middle of a teal field,
    /// with six small brown features 28 px across (eyes, a nose): features a comic keeps on
    /// its subject, specks it would clean off a background.
    static let features = (centres: [(720.0, 520.0), (880.0, 520.0), (800.0, 640.0), (740.0, 720.0), (860.0, 720.0), (800.0, 560.0)], radius: 14.0)

    static func subjectWithFeatures(in directory: String) throws -> String {
        var jitter = Jitter(seed: 6060)
        return try png("features", width: 1600, height: 1200, in: directory) { x, y in
            func within(_ c: (Double, Double), _ r: Double) -> Bool {
                let dx = Double(x) - c.0, dy = Double(y) - c.1
                return dx * dx + dy * dy < r * r
            }
            let colour: [Double] =
                features.centres.contains { within($0, features.radius) } ? [95, 80, 70] : within((800, 600), 260) ? [150, 150, 150] : [60, 140, 150]
            let noise = Double(jitter.next(6))
            return colour.map { UInt8(min(max($0 + noise, 0), 255)) }
        }
    }

    /// The same grey subject on the same teal field, its inside modelled by a soft pattern of
    /// ±25 levels repeating every 40 px (curls of fur, a knitted hat): shading a pop art print
    /// keeps on its subject and would calm away anywhere else. The field is flat.
    static func texturedSubject(in directory: String) throws -> String {
        try png("textured-subject", width: 1600, height: 1200, in: directory) { x, y in
            let dx = Double(x) - 800, dy = Double(y) - 600
            guard dx * dx + dy * dy < 260 * 260 else { return [60, 140, 150] }
            let curl = 25 * sin(2 * Double.pi * Double(x) / 40) * sin(2 * Double.pi * Double(y) / 40)
            return [UInt8(150 + curl), UInt8(150 + curl), UInt8(150 + curl)]
        }
    }

    /// `name`.png in `directory`, `pixel(x, y)` giving each pixel's RGB, rows top to bottom.
    static func png(_ name: String, width: Int, height: Int, in directory: String, pixel: (Int, Int) -> [UInt8]) throws -> String {
        var ppm = Data("P6\n\(width) \(height)\n255\n".utf8)
        for y in 0..<height {
            for x in 0..<width { ppm.append(contentsOf: pixel(x, y)) }
        }
        let raw = "\(directory)/\(name).ppm", path = "\(directory)/\(name).png"
        try ppm.write(to: URL(fileURLWithPath: raw))
        try Tools.run("vips", ["copy", raw, path])
        return path
    }

    /// Deterministic noise for test cards: a linear congruential generator.
    struct Jitter {
        var state: UInt32

        init(seed: UInt32) { state = seed }

        /// A whole number in −`spread`...`spread`.
        mutating func next(_ spread: Int) -> Int {
            state = state &* 1_664_525 &+ 1_013_904_223
            return Int(state >> 24) % (2 * spread + 1) - spread
        }
    }

    /// A rectangle of an image, as a new file.
    static func crop(_ path: String, x: Int, y: Int, width: Int, height: Int, in directory: String) throws -> String {
        let out = "\(directory)/crop-\(UUID().uuidString.prefix(6)).tif"
        try Tools.run("vips", ["crop", path, out, "\(x)", "\(y)", "\(width)", "\(height)"])
        return out
    }

    static func write(_ text: String, to name: String, in directory: String) throws -> String {
        let path = "\(directory)/\(name)"
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }
}
