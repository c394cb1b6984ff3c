public enum BranchlinkVersion {
    public static let current = "0.1.0"
}
