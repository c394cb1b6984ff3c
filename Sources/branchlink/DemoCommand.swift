import ArgumentParser

// Placeholder so the CLI compiles while this command is being written; replaced by its owner.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "demo", abstract: "(being written)")
}
