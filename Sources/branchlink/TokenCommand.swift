import ArgumentParser

// Placeholder so the CLI compiles while this command is being written; replaced by its owner.
struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "token", abstract: "(being written)")
}
